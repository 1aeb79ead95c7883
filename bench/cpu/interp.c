/* A branchy bytecode interpreter: a small register machine with a switch
 * dispatch loop, the shape of many scripting-language cores.  Its program,
 * built at run time, sums Collatz trajectory lengths for 1..SIZE and counts
 * how many of those numbers are prime by trial division.  Prints both sums
 * and the number of instructions executed. */
#include "bench_util.h"

enum { LDI, MOV, ADD, ADDI, SUB, MUL, DIVU, REMU, SHR1, ANDI,
       JMP, JZ, JNZ, JLT, JLE, JEQ, HALT };

typedef struct { uint8_t op, a, b, c; int32_t imm; } insn;

/* Runs code with 16 registers; returns the instruction count. */
static uint64_t run(const insn *code, uint32_t *r) {
  uint64_t n = 0;
  const insn *pc = code;
  for (;;) {
    const insn *i = pc++;
    n++;
    switch (i->op) {
    case LDI:  r[i->a] = (uint32_t)i->imm; break;
    case MOV:  r[i->a] = r[i->b]; break;
    case ADD:  r[i->a] = r[i->b] + r[i->c]; break;
    case ADDI: r[i->a] = r[i->b] + (uint32_t)i->imm; break;
    case SUB:  r[i->a] = r[i->b] - r[i->c]; break;
    case MUL:  r[i->a] = r[i->b] * r[i->c]; break;
    case DIVU: r[i->a] = r[i->c] ? r[i->b] / r[i->c] : 0; break;
    case REMU: r[i->a] = r[i->c] ? r[i->b] % r[i->c] : 0; break;
    case SHR1: r[i->a] = r[i->b] >> 1; break;
    case ANDI: r[i->a] = r[i->b] & (uint32_t)i->imm; break;
    case JMP:  pc = code + i->imm; break;
    case JZ:   if (r[i->a] == 0) pc = code + i->imm; break;
    case JNZ:  if (r[i->a] != 0) pc = code + i->imm; break;
    case JLT:  if (r[i->a] < r[i->b]) pc = code + i->imm; break;
    case JLE:  if (r[i->a] <= r[i->b]) pc = code + i->imm; break;
    case JEQ:  if (r[i->a] == r[i->b]) pc = code + i->imm; break;
    case HALT: return n;
    default:   return 0;
    }
  }
}

#define I(op, a, b, c, imm) (insn){op, a, b, c, imm}

int main(int argc, char **argv) {
  uint32_t limit = (uint32_t)bench_size(argc, argv, 200000);
  /* r0 = n, r1 = limit, r2 = x, r3 = collatz total, r4 = tmp, r5 = prime
   * count, r6 = d, r7 = d*d, r8 = const 1, r9 = const 3 */
  insn code[] = {
    /*  0 */ I(LDI, 0, 0, 0, 1),
    /*  1 */ I(LDI, 3, 0, 0, 0),
    /*  2 */ I(LDI, 5, 0, 0, 0),
    /*  3 */ I(LDI, 8, 0, 0, 1),
    /*  4 */ I(LDI, 9, 0, 0, 3),
    /* outer loop over n */
    /*  5 */ I(JLT, 1, 0, 0, 29),   /* limit < n: done */
    /* Collatz steps of n, added to r3 */
    /*  6 */ I(MOV, 2, 0, 0, 0),
    /*  7 */ I(JEQ, 2, 8, 0, 16),   /* x == 1: trajectory done */
    /*  8 */ I(ANDI, 4, 2, 0, 1),
    /*  9 */ I(JZ, 4, 0, 0, 13),    /* even: halve */
    /* 10 */ I(MUL, 2, 2, 9, 0),    /* odd: x = 3x + 1 */
    /* 11 */ I(ADDI, 2, 2, 0, 1),
    /* 12 */ I(JMP, 0, 0, 0, 14),
    /* 13 */ I(SHR1, 2, 2, 0, 0),
    /* 14 */ I(ADDI, 3, 3, 0, 1),   /* steps++ */
    /* 15 */ I(JLT, 8, 2, 0, 8),    /* x > 1: next step */
    /* trial division: is n prime? */
    /* 16 */ I(LDI, 4, 0, 0, 2),
    /* 17 */ I(JLT, 0, 4, 0, 27),   /* n < 2: not prime */
    /* 18 */ I(LDI, 6, 0, 0, 2),
    /* 19 */ I(MUL, 7, 6, 6, 0),
    /* 20 */ I(JLT, 0, 7, 0, 25),   /* d*d > n: prime */
    /* 21 */ I(REMU, 4, 0, 6, 0),
    /* 22 */ I(JZ, 4, 0, 0, 27),    /* d divides n: not prime */
    /* 23 */ I(ADDI, 6, 6, 0, 1),
    /* 24 */ I(JMP, 0, 0, 0, 19),
    /* 25 */ I(ADDI, 5, 5, 0, 1),   /* primes++ */
    /* 26 */ I(JMP, 0, 0, 0, 27),
    /* 27 */ I(ADDI, 0, 0, 0, 1),   /* n++ */
    /* 28 */ I(JMP, 0, 0, 0, 5),
    /* 29 */ I(HALT, 0, 0, 0, 0),
  };
  uint32_t r[16] = {0};
  r[1] = limit;
  uint64_t n = run(code, r);
  printf("limit %" PRIu32 ": collatz steps %" PRIu32 ", primes %" PRIu32
         ", %" PRIu64 " instructions\n", limit, r[3], r[5], n);
  return n ? 0 : 1;
}
