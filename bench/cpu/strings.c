/* String processing: generate a pseudo-random text of words built from
 * syllables, then per round: split it into words, count distinct words in an
 * open-addressing hash table, search for substrings (a hand-written naive
 * search and strstr), upper-case it, reverse every word, and format and
 * re-parse numbers with snprintf/strtoul.  SIZE is the number of rounds. */
#include <ctype.h>
#include <string.h>
#include "bench_util.h"

#define TEXT (512 * 1024)
#define TABLE 65536u /* power of two, well above the number of distinct words */

static const char *const syll[] = {"ka", "lo", "mi", "ne", "ru", "sa", "ti",
                                   "vo", "zen", "bar", "qua", "ex", "or",
                                   "ith", "um", "pel"};

typedef struct { const char *s; uint32_t len, count; } entry;

static uint32_t hash_word(const char *s, uint32_t n) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* Counts the words of text into tab; returns the number of distinct ones. */
static uint32_t count_words(const char *text, entry *tab, uint32_t *longest) {
  memset(tab, 0, sizeof(entry) * TABLE);
  uint32_t distinct = 0;
  *longest = 0;
  const char *p = text;
  while (*p) {
    while (*p && !isalpha((unsigned char)*p)) p++;
    const char *w = p;
    while (isalpha((unsigned char)*p)) p++;
    uint32_t n = (uint32_t)(p - w);
    if (!n) break;
    if (n > *longest) *longest = n;
    uint32_t i = hash_word(w, n) & (TABLE - 1);
    while (tab[i].s && !(tab[i].len == n && memcmp(tab[i].s, w, n) == 0))
      i = (i + 1) & (TABLE - 1);
    if (!tab[i].s) {
      tab[i].s = w;
      tab[i].len = n;
      distinct++;
    }
    tab[i].count++;
  }
  return distinct;
}

static uint32_t naive_count(const char *hay, const char *needle) {
  size_t m = strlen(needle);
  uint32_t c = 0;
  for (const char *p = hay; *p; p++) {
    size_t k = 0;
    while (k < m && p[k] == needle[k]) k++;
    if (k == m) c++;
  }
  return c;
}

static uint32_t strstr_count(const char *hay, const char *needle) {
  uint32_t c = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) c++;
  return c;
}

static void reverse_words(char *s) {
  while (*s) {
    while (*s == ' ' || *s == '\n' || *s == ',' || *s == '.') s++;
    char *e = s;
    while (*e && *e != ' ' && *e != '\n' && *e != ',' && *e != '.') e++;
    for (char *l = s, *r = e - 1; l < r; l++, r--) {
      char t = *l; *l = *r; *r = t;
    }
    s = e;
  }
}

int main(int argc, char **argv) {
  long rounds = bench_size(argc, argv, 50);
  char *text = bench_alloc(TEXT + 64), *work = bench_alloc(TEXT + 64);
  entry *tab = bench_alloc(sizeof(entry) * TABLE);
  bench_rng r = {11};
  size_t len = 0;
  while (len < TEXT) {
    uint32_t ns = 1 + bench_rng_below(&r, 3);
    for (uint32_t k = 0; k < ns; k++) {
      const char *sy = syll[bench_rng_below(&r, 16)];
      size_t sl = strlen(sy);
      memcpy(text + len, sy, sl);
      len += sl;
    }
    uint32_t sep = bench_rng_below(&r, 20);
    text[len++] = sep == 0 ? '\n' : sep == 1 ? ',' : sep == 2 ? '.' : ' ';
  }
  text[len] = '\0';

  uint64_t check = BENCH_FNV_INIT;
  uint32_t distinct = 0, longest = 0, hits = 0;
  for (long round = 0; round < rounds; round++) {
    memcpy(work, text, len + 1);
    /* vary the text per round so no pass repeats the previous one */
    work[(size_t)round * 7919 % len] = 'x';
    distinct = count_words(work, tab, &longest);
    static const char *const needles[] = {"kalo", "zenbar", "quaex", "ithum"};
    const char *nd = needles[round % 4];
    uint32_t a = naive_count(work, nd), b = strstr_count(work, nd);
    hits += a + (a != b) * 1000000u;
    for (size_t i = 0; i < len; i++)
      work[i] = (char)toupper((unsigned char)work[i]);
    reverse_words(work);
    check = bench_fnv(check, work, len);
    char num[32];
    uint32_t sum = 0;
    for (uint32_t i = 0; i < 20000; i++) {
      snprintf(num, sizeof num, "%" PRIu32 "-%x", i * 2654435761u, i);
      char *end;
      sum += (uint32_t)strtoul(num, &end, 10) + (uint32_t)strtoul(end + 1, NULL, 16);
    }
    check ^= sum;
  }
  printf("%zu bytes, %" PRIu32 " distinct words, longest %" PRIu32
         ", %" PRIu32 " hits, checksum %016" PRIx64 "\n",
         len, distinct, longest, hits, check);
  free(text);
  free(work);
  free(tab);
  return 0;
}
