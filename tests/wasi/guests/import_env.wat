;; Imports something WASI does not provide.
(module
  (import "env" "host_thing" (func (param i32)))
  (func (export "_start")))
