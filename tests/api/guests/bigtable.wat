;; Gateway test guest: declares a table of two million elements, over the
;; executor's default limit (module_table_too_large).
(module
  (table 2000000 funcref)
  (func (export "main") (result i32) (i32.const 0)))
