;; Test shim: imports every wasi:cuda function and exports a thin wrapper
;; for each, so that tests call them with any arguments, as a guest, with
;; this module's memory as the caller's memory.
(module
  (import "wasi:cuda/host@0.2.0" "wasi_cuda_load_ptx"
    (func $load_ptx (param i32 i32 i32 i32) (result i64)))
  (import "wasi:cuda/host@0.2.0" "wasi_cuda_launch"
    (func $launch (param i64 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi:cuda/host@0.2.0" "wasi_cuda_sync" (func $sync (result i32)))
  (import "wasi:cuda/host@0.2.0" "wasi_cuda_last_error_len"
    (func $error_len (result i32)))
  (import "wasi:cuda/host@0.2.0" "wasi_cuda_last_error_copy"
    (func $error_copy (param i32 i32) (result i32)))
  (import "tensorwasm:cuda/buffers@0.1.0" "malloc"
    (func $malloc (param i64) (result i64)))
  (import "tensorwasm:cuda/buffers@0.1.0" "free"
    (func $free (param i64) (result i32)))
  (import "tensorwasm:cuda/buffers@0.1.0" "memcpy_htod"
    (func $htod (param i64 i64 i32 i32) (result i32)))
  (import "tensorwasm:cuda/buffers@0.1.0" "memcpy_dtoh"
    (func $dtoh (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 4 1024)
  (func (export "load_ptx") (param i32 i32 i32 i32) (result i64)
    (call $load_ptx (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "launch")
    (param i64 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    (call $launch (local.get 0) (local.get 1) (local.get 2) (local.get 3)
      (local.get 4) (local.get 5) (local.get 6) (local.get 7) (local.get 8)
      (local.get 9)))
  (func (export "sync") (result i32) (call $sync))
  (func (export "error_len") (result i32) (call $error_len))
  (func (export "error_copy") (param i32 i32) (result i32)
    (call $error_copy (local.get 0) (local.get 1)))
  (func (export "malloc") (param i64) (result i64) (call $malloc (local.get 0)))
  (func (export "free") (param i64) (result i32) (call $free (local.get 0)))
  (func (export "htod") (param i64 i64 i32 i32) (result i32)
    (call $htod (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "dtoh") (param i64 i64 i32 i32) (result i32)
    (call $dtoh (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  ;; Loads, launches, then traps: release must still free everything.
  (func (export "launch_then_trap")
    (param i64 i32 i32 i32 i32 i32 i32 i32 i32 i32)
    (drop (call $launch (local.get 0) (local.get 1) (local.get 2)
      (local.get 3) (local.get 4) (local.get 5) (local.get 6) (local.get 7)
      (local.get 8) (local.get 9)))
    unreachable))
