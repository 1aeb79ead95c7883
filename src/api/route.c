/* The route table: which handler serves a (method, path), which paths need
 * auth, and the path parameter.  Paths are matched segment by segment on
 * the raw path (no query string); a parameter is one non-empty segment of
 * at most API_ID_MAX bytes.  HEAD is served wherever GET is. */
#include <string.h>

#include "api_int.h"

static const struct {
  const char *tmpl;
  const char *method;
  api_route route;
  bool is_protected;
} table[] = {
    {"/healthz", "GET", API_ROUTE_HEALTHZ, false},
    {"/metrics", "GET", API_ROUTE_METRICS, false},
    {"/functions", "POST", API_ROUTE_FN_CREATE, true},
    {"/functions", "GET", API_ROUTE_FN_LIST, true},
    {"/functions/:id", "GET", API_ROUTE_FN_GET, true},
    {"/functions/:id", "DELETE", API_ROUTE_FN_DELETE, true},
    {"/functions/:id/invoke", "POST", API_ROUTE_INVOKE, true},
    {"/functions/:id/invoke-async", "POST", API_ROUTE_INVOKE_ASYNC, true},
    {"/jobs/:id", "GET", API_ROUTE_JOB_GET, true},
    {"/snapshot/save", "POST", API_ROUTE_SNAPSHOT_SAVE, true},
    {"/snapshot/restore", "POST", API_ROUTE_SNAPSHOT_RESTORE, true},
};

/* The Allow header for each template (HEAD implied by GET). */
static const char *allow_of(const char *tmpl) {
  if (strcmp(tmpl, "/functions") == 0) return "GET, HEAD, POST";
  if (strcmp(tmpl, "/functions/:id") == 0) return "GET, HEAD, DELETE";
  if (strcmp(tmpl, "/healthz") == 0 || strcmp(tmpl, "/metrics") == 0 ||
      strcmp(tmpl, "/jobs/:id") == 0)
    return "GET, HEAD";
  return "POST";
}

/* Does `path` match `tmpl`?  Copies the `:id` segment into id. */
static bool match(const char *tmpl, const char *path, char id[API_ID_MAX + 1]) {
  while (*tmpl && *path) {
    if (*tmpl == ':') {
      while (*tmpl && *tmpl != '/') tmpl++;
      size_t n = strcspn(path, "/");
      if (n == 0 || n > API_ID_MAX) return false;
      memcpy(id, path, n);
      id[n] = '\0';
      path += n;
    } else if (*tmpl++ != *path++) {
      return false;
    }
  }
  return !*tmpl && !*path;
}

void api_route_match(const char *method, const char *path, api_match *out) {
  memset(out, 0, sizeof *out);
  out->route = API_ROUTE_NONE;
  if (strcmp(method, "HEAD") == 0) method = "GET";
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    char id[API_ID_MAX + 1] = "";
    if (!match(table[i].tmpl, path, id)) continue;
    /* The path exists; remember it even when this method is not served. */
    out->allow = allow_of(table[i].tmpl);
    out->is_protected = table[i].is_protected;
    memcpy(out->id, id, sizeof id);
    if (strcmp(method, table[i].method) == 0) {
      out->route = table[i].route;
      out->method_ok = true;
      return;
    }
  }
}
