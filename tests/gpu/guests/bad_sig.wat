;; wasi_cuda_sync with a wrong signature: refused at instantiation.
(module
  (import "wasi:cuda/host@0.2.0" "wasi_cuda_sync" (func (param i32) (result i32))))
