/* calc: a small scripting language, the non-trivial example guest.
 *
 * The same source builds natively (calc-native) and for wasm32-wasi
 * (calc.wasm); a script must print exactly the same thing under both,
 * which the tests check.  Usage:
 *
 *   calc FILE            run a script file
 *   calc -e 'CODE'       run CODE
 *   calc                 run the script read from stdin
 *
 * The language:
 *
 *   # comment
 *   let x = 1 + 2 * 3;            numbers are doubles; strings "a\n"; true false nil
 *   x = x - 1;                    assignment to an existing variable
 *   let a = [1, "two", [3]];      arrays (a[i], a[i] = v), indexed from 0
 *   let m = {"k": 1, "j": 2};     maps with string keys (m["k"], m.k)
 *   fn add(a, b) { return a + b; } named functions; closures: fn (x) { ... }
 *   if c { ... } else if d { ... } else { ... }
 *   while c { ... }   for v in array_or_map_or_range { ... }   break; continue;
 *   and or not  == != < <= > >=  + - * / %  unary -   string + anything
 *
 *   builtins: print(...), len(x), push(a, v), pop(a), str(x), num(s),
 *   floor(x), sqrt(x), abs(x), min(a, b), max(a, b), range(n) / range(a, b),
 *   keys(m), has(m, k), substr(s, i, n), chr(n), ord(s), split(s, sep),
 *   join(a, sep), type(x), assert(c, msg), error(msg)
 *
 * Memory: values are reference counted; every heap object is also on one
 * list, so objects kept alive only by cycles (a closure stored in the scope
 * it captured) are freed when the interpreter finishes.
 *
 * Exit status: 0 success, 1 a script error (message on stderr with the
 * line), 2 usage or unreadable file. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- values --------------------------------------------------------- */

typedef enum vtype { T_NIL, T_BOOL, T_NUM, T_STR, T_ARR, T_MAP, T_FN, T_BUILTIN } vtype;

typedef struct obj obj;
typedef struct value {
  vtype t;
  union {
    int b;
    double n;
    obj *o;
    int builtin;
  } u;
} value;

typedef struct node node;
typedef struct scope scope;

struct obj {
  vtype t;
  long refs;
  obj *next_all, *prev_all;
  union {
    struct { char *s; size_t len; } str;
    struct { value *v; size_t len, cap; } arr;
    struct { char **k; value *v; size_t len, cap; } map;
    struct { node *def; scope *env; } fn;
  } u;
};

/* A scope is a map from names to values plus a parent; it is an object so
 * closures can share it. */
struct scope {
  obj *vars; /* T_MAP */
  scope *parent;
  long refs;
  scope *next_all, *prev_all;
};

static obj *all_objs;
static scope *all_scopes;
static const char *script_name = "<script>";

static void die(int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "calc: out of memory\n");
    exit(1);
  }
  return p;
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fprintf(stderr, "calc: out of memory\n");
    exit(1);
  }
  return q;
}

static char *xstrndup(const char *s, size_t n) {
  char *d = xmalloc(n + 1);
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

static obj *obj_new(vtype t) {
  obj *o = xmalloc(sizeof *o);
  memset(o, 0, sizeof *o);
  o->t = t;
  o->refs = 1;
  o->next_all = all_objs;
  if (all_objs) all_objs->prev_all = o;
  all_objs = o;
  return o;
}

static value v_nil(void) { value v = {T_NIL, {0}}; return v; }
static value v_bool(int b) { value v = {T_BOOL, {0}}; v.u.b = !!b; return v; }
static value v_num(double n) { value v = {T_NUM, {0}}; v.u.n = n; return v; }
static value v_obj(obj *o) { value v = {o->t, {0}}; v.u.o = o; return v; }

static int is_obj(value v) { return v.t == T_STR || v.t == T_ARR || v.t == T_MAP || v.t == T_FN; }

static value v_ref(value v) {
  if (is_obj(v)) v.u.o->refs++;
  return v;
}

static void scope_unref(scope *s);
static void obj_free(obj *o);

static void v_unref(value v) {
  if (is_obj(v) && --v.u.o->refs == 0) obj_free(v.u.o);
}

static void obj_unlink(obj *o) {
  if (o->prev_all) o->prev_all->next_all = o->next_all;
  else all_objs = o->next_all;
  if (o->next_all) o->next_all->prev_all = o->prev_all;
}

/* Releases what o holds, then o itself. */
static void obj_free(obj *o) {
  obj_unlink(o);
  switch (o->t) {
  case T_STR: free(o->u.str.s); break;
  case T_ARR:
    for (size_t i = 0; i < o->u.arr.len; i++) v_unref(o->u.arr.v[i]);
    free(o->u.arr.v);
    break;
  case T_MAP:
    for (size_t i = 0; i < o->u.map.len; i++) {
      free(o->u.map.k[i]);
      v_unref(o->u.map.v[i]);
    }
    free(o->u.map.k);
    free(o->u.map.v);
    break;
  case T_FN:
    if (o->u.fn.env) scope_unref(o->u.fn.env);
    break;
  default: break;
  }
  free(o);
}

static value str_new(const char *s, size_t len) {
  obj *o = obj_new(T_STR);
  o->u.str.s = xstrndup(s, len);
  o->u.str.len = len;
  return v_obj(o);
}

static value str_take(char *s, size_t len) {
  obj *o = obj_new(T_STR);
  o->u.str.s = s;
  o->u.str.len = len;
  return v_obj(o);
}

static value arr_new(void) { return v_obj(obj_new(T_ARR)); }
static value map_new(void) { return v_obj(obj_new(T_MAP)); }

/* Appends v (reference moved in). */
static void arr_push(obj *a, value v) {
  if (a->u.arr.len == a->u.arr.cap) {
    a->u.arr.cap = a->u.arr.cap ? a->u.arr.cap * 2 : 4;
    a->u.arr.v = xrealloc(a->u.arr.v, a->u.arr.cap * sizeof(value));
  }
  a->u.arr.v[a->u.arr.len++] = v;
}

static long map_find(const obj *m, const char *k) {
  for (size_t i = 0; i < m->u.map.len; i++)
    if (strcmp(m->u.map.k[i], k) == 0) return (long)i;
  return -1;
}

/* Sets m[k] = v (reference moved in). */
static void map_set(obj *m, const char *k, value v) {
  long i = map_find(m, k);
  if (i >= 0) {
    v_unref(m->u.map.v[i]);
    m->u.map.v[i] = v;
    return;
  }
  if (m->u.map.len == m->u.map.cap) {
    m->u.map.cap = m->u.map.cap ? m->u.map.cap * 2 : 4;
    m->u.map.k = xrealloc(m->u.map.k, m->u.map.cap * sizeof(char *));
    m->u.map.v = xrealloc(m->u.map.v, m->u.map.cap * sizeof(value));
  }
  m->u.map.k[m->u.map.len] = xstrndup(k, strlen(k));
  m->u.map.v[m->u.map.len++] = v;
}

static scope *scope_new(scope *parent) {
  scope *s = xmalloc(sizeof *s);
  memset(s, 0, sizeof *s);
  s->vars = obj_new(T_MAP);
  s->parent = parent;
  if (parent) parent->refs++;
  s->refs = 1;
  s->next_all = all_scopes;
  if (all_scopes) all_scopes->prev_all = s;
  all_scopes = s;
  return s;
}

static void scope_unref(scope *s) {
  while (s && --s->refs == 0) {
    scope *parent = s->parent;
    if (s->prev_all) s->prev_all->next_all = s->next_all;
    else all_scopes = s->next_all;
    if (s->next_all) s->next_all->prev_all = s->prev_all;
    value v = v_obj(s->vars);
    v_unref(v);
    free(s);
    s = parent;
  }
}

/* Frees everything still alive (cycles), at exit. */
static void free_all(void) {
  while (all_scopes) {
    scope *s = all_scopes;
    all_scopes = s->next_all;
    free(s);
  }
  /* Drop every object's contents without following references (they are
   * all on this list anyway), then the objects. */
  for (obj *o = all_objs; o; o = o->next_all) {
    if (o->t == T_STR) free(o->u.str.s);
    if (o->t == T_ARR) free(o->u.arr.v);
    if (o->t == T_MAP) {
      for (size_t i = 0; i < o->u.map.len; i++) free(o->u.map.k[i]);
      free(o->u.map.k);
      free(o->u.map.v);
    }
  }
  while (all_objs) {
    obj *o = all_objs;
    all_objs = o->next_all;
    free(o);
  }
}

/* ---- text buffers ------------------------------------------------------- */

typedef struct buf {
  char *s;
  size_t len, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->s = xrealloc(b->s, b->cap);
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = 0;
}

static void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf *b, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Numbers print as integers when they are integral and not huge, else with
 * up to 14 significant digits: the same on every C library. */
static void num_format(buf *b, double n) {
  if (isnan(n)) buf_str(b, "nan");
  else if (isinf(n)) buf_str(b, n < 0 ? "-inf" : "inf");
  else if (n == floor(n) && fabs(n) < 1e15) buf_printf(b, "%.0f", n == 0 ? 0.0 : n);
  else buf_printf(b, "%.14g", n);
}

static void value_format(buf *b, value v, int quote, int depth) {
  switch (v.t) {
  case T_NIL: buf_str(b, "nil"); break;
  case T_BOOL: buf_str(b, v.u.b ? "true" : "false"); break;
  case T_NUM: num_format(b, v.u.n); break;
  case T_STR:
    if (quote) buf_str(b, "\"");
    buf_add(b, v.u.o->u.str.s, v.u.o->u.str.len);
    if (quote) buf_str(b, "\"");
    break;
  case T_ARR:
    if (depth > 8) { buf_str(b, "[...]"); break; }
    buf_str(b, "[");
    for (size_t i = 0; i < v.u.o->u.arr.len; i++) {
      if (i) buf_str(b, ", ");
      value_format(b, v.u.o->u.arr.v[i], 1, depth + 1);
    }
    buf_str(b, "]");
    break;
  case T_MAP:
    if (depth > 8) { buf_str(b, "{...}"); break; }
    buf_str(b, "{");
    for (size_t i = 0; i < v.u.o->u.map.len; i++) {
      if (i) buf_str(b, ", ");
      buf_printf(b, "\"%s\": ", v.u.o->u.map.k[i]);
      value_format(b, v.u.o->u.map.v[i], 1, depth + 1);
    }
    buf_str(b, "}");
    break;
  case T_FN: buf_str(b, "<fn>"); break;
  case T_BUILTIN: buf_str(b, "<builtin>"); break;
  }
}

static const char *type_name(vtype t) {
  static const char *const names[] = {"nil", "bool", "number", "string",
                                      "array", "map", "function", "function"};
  return names[t];
}

static int truthy(value v) {
  switch (v.t) {
  case T_NIL: return 0;
  case T_BOOL: return v.u.b;
  case T_NUM: return v.u.n != 0;
  case T_STR: return v.u.o->u.str.len != 0;
  default: return 1;
  }
}

static int values_equal(value a, value b) {
  if (a.t != b.t) return 0;
  switch (a.t) {
  case T_NIL: return 1;
  case T_BOOL: return a.u.b == b.u.b;
  case T_NUM: return a.u.n == b.u.n;
  case T_STR:
    return a.u.o->u.str.len == b.u.o->u.str.len &&
           memcmp(a.u.o->u.str.s, b.u.o->u.str.s, a.u.o->u.str.len) == 0;
  case T_ARR:
    if (a.u.o->u.arr.len != b.u.o->u.arr.len) return 0;
    for (size_t i = 0; i < a.u.o->u.arr.len; i++)
      if (!values_equal(a.u.o->u.arr.v[i], b.u.o->u.arr.v[i])) return 0;
    return 1;
  case T_BUILTIN: return a.u.builtin == b.u.builtin;
  default: return a.u.o == b.u.o;
  }
}

/* ---- lexer -------------------------------------------------------------- */

typedef enum tok {
  K_EOF, K_NUM, K_STR, K_NAME,
  K_LET, K_FN, K_IF, K_ELSE, K_WHILE, K_FOR, K_IN, K_RETURN, K_BREAK,
  K_CONTINUE, K_TRUE, K_FALSE, K_NIL, K_AND, K_OR, K_NOT,
  K_LPAREN, K_RPAREN, K_LBRACE, K_RBRACE, K_LBRACKET, K_RBRACKET,
  K_COMMA, K_SEMI, K_COLON, K_DOT, K_ASSIGN,
  K_PLUS, K_MINUS, K_STAR, K_SLASH, K_PERCENT,
  K_EQ, K_NE, K_LT, K_LE, K_GT, K_GE
} tok;

typedef struct token {
  tok k;
  int line;
  double num;
  char *text; /* names and strings (owned by the token list) */
  size_t len;
} token;

static const struct { const char *word; tok k; } keywords[] = {
    {"let", K_LET}, {"fn", K_FN}, {"if", K_IF}, {"else", K_ELSE},
    {"while", K_WHILE}, {"for", K_FOR}, {"in", K_IN}, {"return", K_RETURN},
    {"break", K_BREAK}, {"continue", K_CONTINUE}, {"true", K_TRUE},
    {"false", K_FALSE}, {"nil", K_NIL}, {"and", K_AND}, {"or", K_OR},
    {"not", K_NOT}};

typedef struct lexer {
  const char *src;
  size_t pos;
  int line;
  token *toks;
  size_t ntoks, cap;
} lexer;

static void lex_push(lexer *lx, token t) {
  if (lx->ntoks == lx->cap) {
    lx->cap = lx->cap ? lx->cap * 2 : 256;
    lx->toks = xrealloc(lx->toks, lx->cap * sizeof(token));
  }
  lx->toks[lx->ntoks++] = t;
}

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static void lex_string(lexer *lx, token *t) {
  buf b = {0};
  lx->pos++; /* opening quote */
  for (;;) {
    char c = lx->src[lx->pos];
    if (c == 0 || c == '\n') die(lx->line, "unterminated string");
    lx->pos++;
    if (c == '"') break;
    if (c == '\\') {
      char e = lx->src[lx->pos++];
      switch (e) {
      case 'n': c = '\n'; break;
      case 't': c = '\t'; break;
      case '\\': c = '\\'; break;
      case '"': c = '"'; break;
      case '0': c = 0; break;
      default: die(lx->line, "unknown escape \\%c", e ? e : '0');
      }
    }
    buf_add(&b, &c, 1);
  }
  t->k = K_STR;
  t->text = b.s ? b.s : xstrndup("", 0);
  t->len = b.len;
}

/* Two-character operators first, then one-character ones. */
static int lex_operator(lexer *lx, token *t) {
  static const struct { const char *s; tok k; } ops[] = {
      {"==", K_EQ}, {"!=", K_NE}, {"<=", K_LE}, {">=", K_GE},
      {"(", K_LPAREN}, {")", K_RPAREN}, {"{", K_LBRACE}, {"}", K_RBRACE},
      {"[", K_LBRACKET}, {"]", K_RBRACKET}, {",", K_COMMA}, {";", K_SEMI},
      {":", K_COLON}, {".", K_DOT}, {"=", K_ASSIGN}, {"+", K_PLUS},
      {"-", K_MINUS}, {"*", K_STAR}, {"/", K_SLASH}, {"%", K_PERCENT},
      {"<", K_LT}, {">", K_GT}};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    size_t n = strlen(ops[i].s);
    if (strncmp(lx->src + lx->pos, ops[i].s, n) == 0) {
      t->k = ops[i].k;
      lx->pos += n;
      return 1;
    }
  }
  return 0;
}

static void lex(lexer *lx) {
  for (;;) {
    char c = lx->src[lx->pos];
    if (c == '\n') { lx->line++; lx->pos++; continue; }
    if (c == ' ' || c == '\t' || c == '\r') { lx->pos++; continue; }
    if (c == '#') {
      while (lx->src[lx->pos] && lx->src[lx->pos] != '\n') lx->pos++;
      continue;
    }
    token t = {K_EOF, lx->line, 0, NULL, 0};
    if (c == 0) {
      lex_push(lx, t);
      return;
    }
    if (is_digit(c)) {
      char *end;
      t.k = K_NUM;
      t.num = strtod(lx->src + lx->pos, &end);
      lx->pos = (size_t)(end - lx->src);
    } else if (is_alpha(c)) {
      size_t start = lx->pos;
      while (is_alpha(lx->src[lx->pos]) || is_digit(lx->src[lx->pos])) lx->pos++;
      t.k = K_NAME;
      t.len = lx->pos - start;
      for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strlen(keywords[i].word) == t.len &&
            strncmp(keywords[i].word, lx->src + start, t.len) == 0)
          t.k = keywords[i].k;
      if (t.k == K_NAME) t.text = xstrndup(lx->src + start, t.len);
    } else if (c == '"') {
      lex_string(lx, &t);
    } else if (!lex_operator(lx, &t)) {
      die(lx->line, "unexpected character '%c'", c);
    }
    lex_push(lx, t);
  }
}

/* ---- syntax tree -------------------------------------------------------- */

typedef enum nkind {
  N_NUM, N_STR, N_TRUE, N_FALSE, N_NIL, N_VAR, N_ARRAY, N_MAP, N_FNLIT,
  N_CALL, N_INDEX, N_UNARY, N_BINARY, N_AND, N_OR,
  N_LET, N_ASSIGN, N_SETINDEX, N_EXPR, N_BLOCK, N_IF, N_WHILE, N_FOR,
  N_RETURN, N_BREAK, N_CONTINUE, N_FNDEF
} nkind;

struct node {
  nkind k;
  int line;
  tok op;          /* N_UNARY, N_BINARY */
  double num;
  char *name;      /* N_VAR, N_LET, N_ASSIGN, N_FOR, N_FNDEF; N_STR text */
  size_t len;
  node **kids;     /* operands, elements, statements, arguments */
  size_t nkids;
  char **params;   /* N_FNLIT, N_FNDEF */
  size_t nparams;
  node *a, *b, *c; /* condition / then / else, callee, target, body ... */
  node *next_all;
};

static node *all_nodes;

static node *node_new(nkind k, int line) {
  node *n = xmalloc(sizeof *n);
  memset(n, 0, sizeof *n);
  n->k = k;
  n->line = line;
  n->next_all = all_nodes;
  all_nodes = n;
  return n;
}

static void node_add(node *n, node *kid) {
  n->kids = xrealloc(n->kids, (n->nkids + 1) * sizeof(node *));
  n->kids[n->nkids++] = kid;
}

static void nodes_free(void) {
  while (all_nodes) {
    node *n = all_nodes;
    all_nodes = n->next_all;
    free(n->name);
    free(n->kids);
    for (size_t i = 0; i < n->nparams; i++) free(n->params[i]);
    free(n->params);
    free(n);
  }
}

/* ---- parser ------------------------------------------------------------- */

typedef struct parser {
  token *t;
  size_t pos;
} parser;

static token *peek(parser *p) { return &p->t[p->pos]; }
static int at(parser *p, tok k) { return p->t[p->pos].k == k; }

static token *advance(parser *p) {
  token *t = &p->t[p->pos];
  if (t->k != K_EOF) p->pos++;
  return t;
}

static int accept(parser *p, tok k) {
  if (!at(p, k)) return 0;
  advance(p);
  return 1;
}

static const char *tok_text(tok k) {
  static const char *const names[] = {
      "end of input", "number", "string", "name", "let", "fn", "if", "else",
      "while", "for", "in", "return", "break", "continue", "true", "false",
      "nil", "and", "or", "not", "(", ")", "{", "}", "[", "]", ",", ";", ":",
      ".", "=", "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">="};
  return names[k];
}

static token *expect(parser *p, tok k) {
  if (!at(p, k))
    die(peek(p)->line, "expected '%s' but found '%s'", tok_text(k), tok_text(peek(p)->k));
  return advance(p);
}

static char *take_name(parser *p) {
  token *t = expect(p, K_NAME);
  return xstrndup(t->text, t->len);
}

static node *parse_expr(parser *p);
static node *parse_block(parser *p);

/* Parameter list "(a, b)" into n->params. */
static void parse_params(parser *p, node *n) {
  expect(p, K_LPAREN);
  if (!at(p, K_RPAREN)) {
    do {
      n->params = xrealloc(n->params, (n->nparams + 1) * sizeof(char *));
      n->params[n->nparams++] = take_name(p);
    } while (accept(p, K_COMMA));
  }
  expect(p, K_RPAREN);
}

static node *parse_primary(parser *p) {
  token *t = advance(p);
  node *n;
  switch (t->k) {
  case K_NUM:
    n = node_new(N_NUM, t->line);
    n->num = t->num;
    return n;
  case K_STR:
    n = node_new(N_STR, t->line);
    n->name = xstrndup(t->text, t->len);
    n->len = t->len;
    return n;
  case K_TRUE: return node_new(N_TRUE, t->line);
  case K_FALSE: return node_new(N_FALSE, t->line);
  case K_NIL: return node_new(N_NIL, t->line);
  case K_NAME:
    n = node_new(N_VAR, t->line);
    n->name = xstrndup(t->text, t->len);
    return n;
  case K_LPAREN:
    n = parse_expr(p);
    expect(p, K_RPAREN);
    return n;
  case K_LBRACKET:
    n = node_new(N_ARRAY, t->line);
    if (!at(p, K_RBRACKET)) {
      do node_add(n, parse_expr(p)); while (accept(p, K_COMMA));
    }
    expect(p, K_RBRACKET);
    return n;
  case K_LBRACE: /* map literal: keys and values alternate in kids */
    n = node_new(N_MAP, t->line);
    if (!at(p, K_RBRACE)) {
      do {
        node_add(n, parse_expr(p));
        expect(p, K_COLON);
        node_add(n, parse_expr(p));
      } while (accept(p, K_COMMA));
    }
    expect(p, K_RBRACE);
    return n;
  case K_FN:
    n = node_new(N_FNLIT, t->line);
    parse_params(p, n);
    n->a = parse_block(p);
    return n;
  default:
    die(t->line, "unexpected '%s' in an expression", tok_text(t->k));
  }
}

static node *parse_postfix(parser *p) {
  node *n = parse_primary(p);
  for (;;) {
    int line = peek(p)->line;
    if (accept(p, K_LPAREN)) {
      node *call = node_new(N_CALL, line);
      call->a = n;
      if (!at(p, K_RPAREN)) {
        do node_add(call, parse_expr(p)); while (accept(p, K_COMMA));
      }
      expect(p, K_RPAREN);
      n = call;
    } else if (accept(p, K_LBRACKET)) {
      node *ix = node_new(N_INDEX, line);
      ix->a = n;
      ix->b = parse_expr(p);
      expect(p, K_RBRACKET);
      n = ix;
    } else if (accept(p, K_DOT)) { /* m.key is m["key"] */
      node *ix = node_new(N_INDEX, line);
      node *key = node_new(N_STR, line);
      key->name = take_name(p);
      key->len = strlen(key->name);
      ix->a = n;
      ix->b = key;
      n = ix;
    } else {
      return n;
    }
  }
}

static node *parse_unary(parser *p) {
  int line = peek(p)->line;
  if (at(p, K_MINUS) || at(p, K_NOT)) {
    node *n = node_new(N_UNARY, line);
    n->op = advance(p)->k;
    n->a = parse_unary(p);
    return n;
  }
  return parse_postfix(p);
}

/* Binary operator precedence, loosest first; 0 = not binary. */
static int precedence(tok k) {
  switch (k) {
  case K_OR: return 1;
  case K_AND: return 2;
  case K_EQ: case K_NE: return 3;
  case K_LT: case K_LE: case K_GT: case K_GE: return 4;
  case K_PLUS: case K_MINUS: return 5;
  case K_STAR: case K_SLASH: case K_PERCENT: return 6;
  default: return 0;
  }
}

/* Precedence climbing. */
static node *parse_binary(parser *p, int min_prec) {
  node *lhs = parse_unary(p);
  for (;;) {
    tok op = peek(p)->k;
    int prec = precedence(op);
    if (prec == 0 || prec < min_prec) return lhs;
    int line = advance(p)->line;
    node *rhs = parse_binary(p, prec + 1);
    node *n = node_new(op == K_AND ? N_AND : op == K_OR ? N_OR : N_BINARY, line);
    n->op = op;
    n->a = lhs;
    n->b = rhs;
    lhs = n;
  }
}

static node *parse_expr(parser *p) { return parse_binary(p, 1); }

static node *parse_statement(parser *p);

static node *parse_block(parser *p) {
  node *n = node_new(N_BLOCK, expect(p, K_LBRACE)->line);
  while (!at(p, K_RBRACE) && !at(p, K_EOF)) node_add(n, parse_statement(p));
  expect(p, K_RBRACE);
  return n;
}

static node *parse_if(parser *p, int line) {
  node *n = node_new(N_IF, line);
  n->a = parse_expr(p);
  n->b = parse_block(p);
  if (accept(p, K_ELSE)) {
    int eline = peek(p)->line;
    n->c = accept(p, K_IF) ? parse_if(p, eline) : parse_block(p);
  }
  return n;
}

static node *parse_statement(parser *p) {
  token *t = peek(p);
  int line = t->line;
  node *n;
  switch (t->k) {
  case K_LET:
    advance(p);
    n = node_new(N_LET, line);
    n->name = take_name(p);
    expect(p, K_ASSIGN);
    n->a = parse_expr(p);
    expect(p, K_SEMI);
    return n;
  case K_FN:
    if (p->t[p->pos + 1].k != K_NAME) break; /* a function literal statement */
    advance(p);
    n = node_new(N_FNDEF, line);
    n->name = take_name(p);
    parse_params(p, n);
    n->a = parse_block(p);
    return n;
  case K_IF:
    advance(p);
    return parse_if(p, line);
  case K_WHILE:
    advance(p);
    n = node_new(N_WHILE, line);
    n->a = parse_expr(p);
    n->b = parse_block(p);
    return n;
  case K_FOR:
    advance(p);
    n = node_new(N_FOR, line);
    n->name = take_name(p);
    expect(p, K_IN);
    n->a = parse_expr(p);
    n->b = parse_block(p);
    return n;
  case K_RETURN:
    advance(p);
    n = node_new(N_RETURN, line);
    if (!at(p, K_SEMI)) n->a = parse_expr(p);
    expect(p, K_SEMI);
    return n;
  case K_BREAK:
  case K_CONTINUE:
    advance(p);
    n = node_new(t->k == K_BREAK ? N_BREAK : N_CONTINUE, line);
    expect(p, K_SEMI);
    return n;
  case K_LBRACE:
    return parse_block(p);
  default:
    break;
  }
  node *e = parse_expr(p);
  if (accept(p, K_ASSIGN)) {
    node *rhs = parse_expr(p);
    if (e->k == N_VAR) {
      n = node_new(N_ASSIGN, line);
      n->name = e->name;
      e->name = NULL;
      n->a = rhs;
    } else if (e->k == N_INDEX) {
      n = node_new(N_SETINDEX, line);
      n->a = e->a;
      n->b = e->b;
      n->c = rhs;
    } else {
      die(line, "cannot assign to this expression");
    }
  } else {
    n = node_new(N_EXPR, line);
    n->a = e;
  }
  expect(p, K_SEMI);
  return n;
}

/* ---- evaluation --------------------------------------------------------- */

typedef enum flow { F_NORMAL, F_RETURN, F_BREAK, F_CONTINUE } flow;

typedef struct interp {
  value ret;     /* the value of the last `return` */
  int depth;     /* call depth, to report runaway recursion */
  buf out;       /* stdout, flushed at the end and when large */
} interp;

static interp I;

static void out_flush(void) {
  if (I.out.len) fwrite(I.out.s, 1, I.out.len, stdout);
  I.out.len = 0;
  fflush(stdout);
}

static void die(int line, const char *fmt, ...) {
  va_list ap;
  out_flush();
  fprintf(stderr, "%s:%d: error: ", script_name, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

static value eval(node *n, scope *s);
static flow exec(node *n, scope *s);

/* A variable's slot, searching outwards; NULL if undefined. */
static value *lookup(scope *s, const char *name) {
  for (; s; s = s->parent) {
    long i = map_find(s->vars, name);
    if (i >= 0) return &s->vars->u.map.v[i];
  }
  return NULL;
}

enum {
  B_PRINT, B_LEN, B_PUSH, B_POP, B_STR, B_NUM, B_FLOOR, B_SQRT, B_ABS, B_MIN,
  B_MAX, B_RANGE, B_KEYS, B_HAS, B_SUBSTR, B_CHR, B_ORD, B_SPLIT, B_JOIN,
  B_TYPE, B_ASSERT, B_ERROR, B_COUNT
};
static const char *const builtin_names[B_COUNT] = {
    "print", "len", "push", "pop", "str", "num", "floor", "sqrt", "abs", "min",
    "max", "range", "keys", "has", "substr", "chr", "ord", "split", "join",
    "type", "assert", "error"};

static double want_num(value v, int line, const char *what) {
  if (v.t != T_NUM) die(line, "%s expects a number, got %s", what, type_name(v.t));
  return v.u.n;
}

static obj *want(value v, vtype t, int line, const char *what) {
  if (v.t != t) die(line, "%s expects %s %s, got %s", what,
                    t == T_ARR ? "an" : "a", type_name(t), type_name(v.t));
  return v.u.o;
}

static void want_args(size_t n, size_t lo, size_t hi, int line, const char *what) {
  if (n < lo || n > hi) die(line, "%s takes %zu to %zu arguments, got %zu", what, lo, hi, n);
}

static value to_string(value v) {
  buf b = {0};
  value_format(&b, v, 0, 0);
  return b.s ? str_take(b.s, b.len) : str_new("", 0);
}

static value b_range(value *a, size_t n, int line) {
  double lo = 0, hi;
  if (n == 1) {
    hi = want_num(a[0], line, "range");
  } else {
    lo = want_num(a[0], line, "range");
    hi = want_num(a[1], line, "range");
  }
  if (hi - lo > 1e7) die(line, "range too large");
  value r = arr_new();
  for (double x = lo; x < hi; x++) arr_push(r.u.o, v_num(x));
  return r;
}

static value b_split(value *a, int line) {
  obj *s = want(a[0], T_STR, line, "split"), *sep = want(a[1], T_STR, line, "split");
  value r = arr_new();
  const char *p = s->u.str.s, *end = p + s->u.str.len;
  if (sep->u.str.len == 0) die(line, "split: empty separator");
  for (;;) {
    const char *q = strstr(p, sep->u.str.s);
    if (!q || q >= end) {
      arr_push(r.u.o, str_new(p, (size_t)(end - p)));
      return r;
    }
    arr_push(r.u.o, str_new(p, (size_t)(q - p)));
    p = q + sep->u.str.len;
  }
}

static value b_join(value *a, int line) {
  obj *arr = want(a[0], T_ARR, line, "join"), *sep = want(a[1], T_STR, line, "join");
  buf b = {0};
  buf_add(&b, "", 0);
  for (size_t i = 0; i < arr->u.arr.len; i++) {
    if (i) buf_add(&b, sep->u.str.s, sep->u.str.len);
    value_format(&b, arr->u.arr.v[i], 0, 0);
  }
  return str_take(b.s, b.len);
}

static value b_substr(value *a, int line) {
  obj *s = want(a[0], T_STR, line, "substr");
  double i = want_num(a[1], line, "substr"), n = want_num(a[2], line, "substr");
  double len = (double)s->u.str.len;
  if (i < 0) i = 0;
  if (i > len) i = len;
  if (n < 0) n = 0;
  if (i + n > len) n = len - i;
  return str_new(s->u.str.s + (size_t)i, (size_t)n);
}

/* Calls builtin `b` with n arguments (borrowed); returns a new reference. */
static value call_builtin(int b, value *a, size_t n, int line) {
  const char *name = builtin_names[b];
  switch (b) {
  case B_PRINT: {
    for (size_t i = 0; i < n; i++) {
      if (i) buf_add(&I.out, " ", 1);
      value_format(&I.out, a[i], 0, 0);
    }
    buf_add(&I.out, "\n", 1);
    if (I.out.len > 65536) out_flush();
    return v_nil();
  }
  case B_LEN:
    want_args(n, 1, 1, line, name);
    if (a[0].t == T_STR) return v_num((double)a[0].u.o->u.str.len);
    if (a[0].t == T_ARR) return v_num((double)a[0].u.o->u.arr.len);
    if (a[0].t == T_MAP) return v_num((double)a[0].u.o->u.map.len);
    die(line, "len expects a string, array or map, got %s", type_name(a[0].t));
  case B_PUSH:
    want_args(n, 2, 2, line, name);
    arr_push(want(a[0], T_ARR, line, name), v_ref(a[1]));
    return v_nil();
  case B_POP: {
    want_args(n, 1, 1, line, name);
    obj *arr = want(a[0], T_ARR, line, name);
    if (arr->u.arr.len == 0) die(line, "pop from an empty array");
    return arr->u.arr.v[--arr->u.arr.len]; /* the array's reference moves out */
  }
  case B_STR: want_args(n, 1, 1, line, name); return to_string(a[0]);
  case B_NUM: {
    want_args(n, 1, 1, line, name);
    if (a[0].t == T_NUM) return a[0];
    obj *s = want(a[0], T_STR, line, name);
    char *end;
    double v = strtod(s->u.str.s, &end);
    if (end == s->u.str.s || *end) return v_nil();
    return v_num(v);
  }
  case B_FLOOR: want_args(n, 1, 1, line, name); return v_num(floor(want_num(a[0], line, name)));
  case B_SQRT: want_args(n, 1, 1, line, name); return v_num(sqrt(want_num(a[0], line, name)));
  case B_ABS: want_args(n, 1, 1, line, name); return v_num(fabs(want_num(a[0], line, name)));
  case B_MIN:
  case B_MAX: {
    want_args(n, 2, 2, line, name);
    double x = want_num(a[0], line, name), y = want_num(a[1], line, name);
    return v_num(b == B_MIN ? (x < y ? x : y) : (x > y ? x : y));
  }
  case B_RANGE: want_args(n, 1, 2, line, name); return b_range(a, n, line);
  case B_KEYS: {
    want_args(n, 1, 1, line, name);
    obj *m = want(a[0], T_MAP, line, name);
    value r = arr_new();
    for (size_t i = 0; i < m->u.map.len; i++)
      arr_push(r.u.o, str_new(m->u.map.k[i], strlen(m->u.map.k[i])));
    return r;
  }
  case B_HAS: {
    want_args(n, 2, 2, line, name);
    obj *m = want(a[0], T_MAP, line, name), *k = want(a[1], T_STR, line, name);
    return v_bool(map_find(m, k->u.str.s) >= 0);
  }
  case B_SUBSTR: want_args(n, 3, 3, line, name); return b_substr(a, line);
  case B_CHR: {
    want_args(n, 1, 1, line, name);
    double c = want_num(a[0], line, name);
    if (c < 0 || c > 255) die(line, "chr expects 0..255");
    char ch = (char)(unsigned char)c;
    return str_new(&ch, 1);
  }
  case B_ORD: {
    want_args(n, 1, 1, line, name);
    obj *s = want(a[0], T_STR, line, name);
    if (s->u.str.len == 0) die(line, "ord of an empty string");
    return v_num((unsigned char)s->u.str.s[0]);
  }
  case B_SPLIT: want_args(n, 2, 2, line, name); return b_split(a, line);
  case B_JOIN: want_args(n, 2, 2, line, name); return b_join(a, line);
  case B_TYPE: {
    want_args(n, 1, 1, line, name);
    const char *t = type_name(a[0].t);
    return str_new(t, strlen(t));
  }
  case B_ASSERT:
    want_args(n, 1, 2, line, name);
    if (!truthy(a[0])) {
      buf msg = {0};
      if (n > 1) value_format(&msg, a[1], 0, 0);
      die(line, "assertion failed%s%s", n > 1 ? ": " : "", msg.s ? msg.s : "");
    }
    return v_nil();
  case B_ERROR: {
    want_args(n, 1, 1, line, name);
    buf msg = {0};
    value_format(&msg, a[0], 0, 0);
    die(line, "%s", msg.s ? msg.s : "");
  }
  }
  die(line, "unknown builtin");
}

/* Calls f with n evaluated arguments (borrowed). */
static value call_value(value f, value *args, size_t n, int line) {
  if (f.t == T_BUILTIN) return call_builtin(f.u.builtin, args, n, line);
  if (f.t != T_FN) die(line, "cannot call a %s", type_name(f.t));
  node *def = f.u.o->u.fn.def;
  if (n != def->nparams)
    die(line, "%s takes %zu argument%s, got %zu", def->name ? def->name : "function",
        def->nparams, def->nparams == 1 ? "" : "s", n);
  if (++I.depth > 2000) die(line, "call stack too deep (more than 2000 calls)");
  scope *s = scope_new(f.u.o->u.fn.env);
  for (size_t i = 0; i < n; i++) map_set(s->vars, def->params[i], v_ref(args[i]));
  value r = v_nil();
  if (exec(def->a, s) == F_RETURN) {
    r = I.ret;
    I.ret = v_nil();
  }
  scope_unref(s);
  I.depth--;
  return r;
}

static value arith(tok op, value a, value b, int line) {
  if (op == K_PLUS && (a.t == T_STR || b.t == T_STR)) {
    buf out = {0};
    buf_add(&out, "", 0);
    value_format(&out, a, 0, 0);
    value_format(&out, b, 0, 0);
    return str_take(out.s, out.len);
  }
  if (op == K_EQ) return v_bool(values_equal(a, b));
  if (op == K_NE) return v_bool(!values_equal(a, b));
  if (a.t == T_STR && b.t == T_STR && op >= K_LT && op <= K_GE) {
    int c = strcmp(a.u.o->u.str.s, b.u.o->u.str.s);
    return v_bool(op == K_LT ? c < 0 : op == K_LE ? c <= 0 : op == K_GT ? c > 0 : c >= 0);
  }
  if (a.t != T_NUM || b.t != T_NUM)
    die(line, "'%s' needs numbers, got %s and %s", tok_text(op), type_name(a.t), type_name(b.t));
  double x = a.u.n, y = b.u.n;
  switch (op) {
  case K_PLUS: return v_num(x + y);
  case K_MINUS: return v_num(x - y);
  case K_STAR: return v_num(x * y);
  case K_SLASH:
    if (y == 0) die(line, "division by zero");
    return v_num(x / y);
  case K_PERCENT:
    if (y == 0) die(line, "division by zero");
    return v_num(fmod(x, y));
  case K_LT: return v_bool(x < y);
  case K_LE: return v_bool(x <= y);
  case K_GT: return v_bool(x > y);
  case K_GE: return v_bool(x >= y);
  default: die(line, "bad operator");
  }
}

/* Array index as a size_t, checked against len. */
static size_t index_of(value i, size_t len, int line) {
  double d = want_num(i, line, "an array index");
  if (d != floor(d) || d < 0 || d >= (double)len)
    die(line, "index %g out of range (length %zu)", d, len);
  return (size_t)d;
}

static value eval_index(value c, value i, int line) {
  if (c.t == T_ARR) return v_ref(c.u.o->u.arr.v[index_of(i, c.u.o->u.arr.len, line)]);
  if (c.t == T_STR) {
    size_t k = index_of(i, c.u.o->u.str.len, line);
    return str_new(c.u.o->u.str.s + k, 1);
  }
  if (c.t == T_MAP) {
    obj *key = want(i, T_STR, line, "a map index");
    long k = map_find(c.u.o, key->u.str.s);
    return k < 0 ? v_nil() : v_ref(c.u.o->u.map.v[k]);
  }
  die(line, "cannot index a %s", type_name(c.t));
}

static value eval_call(node *n, scope *s) {
  value f = eval(n->a, s);
  value stackargs[8], *args = n->nkids <= 8 ? stackargs : xmalloc(n->nkids * sizeof(value));
  for (size_t i = 0; i < n->nkids; i++) args[i] = eval(n->kids[i], s);
  value r = call_value(f, args, n->nkids, n->line);
  for (size_t i = 0; i < n->nkids; i++) v_unref(args[i]);
  if (args != stackargs) free(args);
  v_unref(f);
  return r;
}

static value make_fn(node *def, scope *s) {
  obj *o = obj_new(T_FN);
  o->u.fn.def = def;
  o->u.fn.env = s;
  s->refs++;
  return v_obj(o);
}

/* Evaluates an expression; returns a new reference. */
static value eval(node *n, scope *s) {
  switch (n->k) {
  case N_NUM: return v_num(n->num);
  case N_STR: return str_new(n->name, n->len);
  case N_TRUE: return v_bool(1);
  case N_FALSE: return v_bool(0);
  case N_NIL: return v_nil();
  case N_VAR: {
    value *v = lookup(s, n->name);
    if (v) return v_ref(*v);
    for (int b = 0; b < B_COUNT; b++)
      if (strcmp(builtin_names[b], n->name) == 0) {
        value f = {T_BUILTIN, {0}};
        f.u.builtin = b;
        return f;
      }
    die(n->line, "undefined variable '%s'", n->name);
  }
  case N_ARRAY: {
    value a = arr_new();
    for (size_t i = 0; i < n->nkids; i++) arr_push(a.u.o, eval(n->kids[i], s));
    return a;
  }
  case N_MAP: {
    value m = map_new();
    for (size_t i = 0; i + 1 < n->nkids; i += 2) {
      value k = eval(n->kids[i], s);
      if (k.t != T_STR) die(n->line, "map keys must be strings, got %s", type_name(k.t));
      map_set(m.u.o, k.u.o->u.str.s, eval(n->kids[i + 1], s));
      v_unref(k);
    }
    return m;
  }
  case N_FNLIT: return make_fn(n, s);
  case N_CALL: return eval_call(n, s);
  case N_INDEX: {
    value c = eval(n->a, s), i = eval(n->b, s);
    value r = eval_index(c, i, n->line);
    v_unref(c);
    v_unref(i);
    return r;
  }
  case N_UNARY: {
    value v = eval(n->a, s);
    value r = n->op == K_NOT ? v_bool(!truthy(v)) : v_num(-want_num(v, n->line, "unary '-'"));
    v_unref(v);
    return r;
  }
  case N_AND:
  case N_OR: {
    value l = eval(n->a, s);
    if (truthy(l) == (n->k == N_OR)) return l;
    v_unref(l);
    return eval(n->b, s);
  }
  case N_BINARY: {
    value a = eval(n->a, s), b = eval(n->b, s);
    value r = arith(n->op, a, b, n->line);
    v_unref(a);
    v_unref(b);
    return r;
  }
  default: die(n->line, "not an expression");
  }
}

static flow exec_block(node *n, scope *parent) {
  scope *s = scope_new(parent);
  flow f = F_NORMAL;
  for (size_t i = 0; i < n->nkids && f == F_NORMAL; i++) f = exec(n->kids[i], s);
  scope_unref(s);
  return f;
}

static void exec_setindex(node *n, scope *s) {
  value c = eval(n->a, s), i = eval(n->b, s), v = eval(n->c, s);
  if (c.t == T_ARR) {
    size_t k = index_of(i, c.u.o->u.arr.len, n->line);
    v_unref(c.u.o->u.arr.v[k]);
    c.u.o->u.arr.v[k] = v;
  } else if (c.t == T_MAP) {
    obj *key = want(i, T_STR, n->line, "a map index");
    map_set(c.u.o, key->u.str.s, v);
  } else {
    die(n->line, "cannot assign into a %s", type_name(c.t));
  }
  v_unref(c);
  v_unref(i);
}

/* for NAME in array / map (its keys) / string (its characters). */
static flow exec_for(node *n, scope *s) {
  value coll = eval(n->a, s);
  value items;
  if (coll.t == T_ARR) {
    items = v_ref(coll);
  } else if (coll.t == T_MAP) {
    items = call_builtin(B_KEYS, &coll, 1, n->line);
  } else if (coll.t == T_STR) {
    items = arr_new();
    for (size_t i = 0; i < coll.u.o->u.str.len; i++)
      arr_push(items.u.o, str_new(coll.u.o->u.str.s + i, 1));
  } else {
    die(n->line, "cannot loop over a %s", type_name(coll.t));
  }
  flow f = F_NORMAL;
  for (size_t i = 0; i < items.u.o->u.arr.len; i++) {
    scope *it = scope_new(s);
    map_set(it->vars, n->name, v_ref(items.u.o->u.arr.v[i]));
    f = exec(n->b, it);
    scope_unref(it);
    if (f == F_BREAK) { f = F_NORMAL; break; }
    if (f == F_CONTINUE) f = F_NORMAL;
    if (f == F_RETURN) break;
  }
  v_unref(items);
  v_unref(coll);
  return f;
}

static flow exec(node *n, scope *s) {
  switch (n->k) {
  case N_LET:
    map_set(s->vars, n->name, eval(n->a, s));
    return F_NORMAL;
  case N_FNDEF:
    map_set(s->vars, n->name, make_fn(n, s));
    return F_NORMAL;
  case N_ASSIGN: {
    value *slot = lookup(s, n->name);
    if (!slot) die(n->line, "assignment to undefined variable '%s' (use let)", n->name);
    value v = eval(n->a, s);
    slot = lookup(s, n->name); /* eval may have grown the scope's arrays */
    v_unref(*slot);
    *slot = v;
    return F_NORMAL;
  }
  case N_SETINDEX: exec_setindex(n, s); return F_NORMAL;
  case N_EXPR: v_unref(eval(n->a, s)); return F_NORMAL;
  case N_BLOCK: return exec_block(n, s);
  case N_IF: {
    value c = eval(n->a, s);
    int t = truthy(c);
    v_unref(c);
    if (t) return exec(n->b, s);
    return n->c ? exec(n->c, s) : F_NORMAL;
  }
  case N_WHILE:
    for (;;) {
      value c = eval(n->a, s);
      int t = truthy(c);
      v_unref(c);
      if (!t) return F_NORMAL;
      flow f = exec(n->b, s);
      if (f == F_BREAK) return F_NORMAL;
      if (f == F_RETURN) return f;
    }
  case N_FOR: return exec_for(n, s);
  case N_RETURN:
    v_unref(I.ret);
    I.ret = n->a ? eval(n->a, s) : v_nil();
    return F_RETURN;
  case N_BREAK: return F_BREAK;
  case N_CONTINUE: return F_CONTINUE;
  default: v_unref(eval(n, s)); return F_NORMAL;
  }
}

/* ---- driver ------------------------------------------------------------- */

static char *read_all(FILE *f) {
  buf b = {0};
  char chunk[4096];
  size_t n;
  buf_add(&b, "", 0);
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_add(&b, chunk, n);
  return b.s;
}

static int run(const char *src) {
  lexer lx = {src, 0, 1, NULL, 0, 0};
  lex(&lx);
  parser p = {lx.toks, 0};
  node *prog = node_new(N_BLOCK, 1);
  while (!at(&p, K_EOF)) node_add(prog, parse_statement(&p));
  scope *global = scope_new(NULL);
  flow f = F_NORMAL;
  for (size_t i = 0; i < prog->nkids && f == F_NORMAL; i++) f = exec(prog->kids[i], global);
  if (f == F_BREAK || f == F_CONTINUE) die(0, "break or continue outside a loop");
  v_unref(I.ret);
  scope_unref(global);
  out_flush();
  for (size_t i = 0; i < lx.ntoks; i++) free(lx.toks[i].text);
  free(lx.toks);
  nodes_free();
  free_all();
  free(I.out.s);
  return 0;
}

int main(int argc, char **argv) {
  char *src = NULL;
  if (argc == 3 && strcmp(argv[1], "-e") == 0) {
    script_name = "<-e>";
    src = xstrndup(argv[2], strlen(argv[2]));
  } else if (argc == 2) {
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
      fprintf(stderr, "calc: cannot open %s\n", argv[1]);
      return 2;
    }
    script_name = argv[1];
    src = read_all(f);
    fclose(f);
  } else if (argc == 1) {
    script_name = "<stdin>";
    src = read_all(stdin);
  } else {
    fprintf(stderr, "usage: calc [FILE | -e CODE]\n");
    return 2;
  }
  int rc = run(src);
  free(src);
  return rc;
}
