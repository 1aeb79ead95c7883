;; Imports wasi_cuda_last_error_ptr, which the original named but never
;; registered: linking must refuse it.
(module
  (import "wasi:cuda/host@0.2.0" "wasi_cuda_last_error_ptr"
    (func (result i32))))
