;; An import from another module beside a wasi:cuda one.
(module
  (import "env" "f" (func))
  (import "wasi:cuda/host@0.2.0" "wasi_cuda_sync" (func (result i32)))
  (import "tensorwasm:cuda/buffers@0.1.0" "memory" (memory 1)))
