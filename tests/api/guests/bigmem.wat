;; Gateway test guest: declares 5000 pages (over 256 MiB) of memory, so the
;; executor refuses to instantiate it (module_memory_too_large).
(module
  (memory 5000)
  (func (export "main") (result i32) (i32.const 0)))
