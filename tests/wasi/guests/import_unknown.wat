;; Imports a function wasi_snapshot_preview1 does not have.
(module
  (import "wasi_snapshot_preview1" "no_such_function" (func (result i32)))
  (func (export "_start")))
