;; Gateway test guest: no _start, so a call without "export" runs main.
(module
  (func (export "main") (result i32) (i32.const 7)))
