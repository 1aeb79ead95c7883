;; Exports with assorted signatures for the CLI's argument and result rules.
(module
  (func (export "nothing"))
  (func (export "three") (param i32 i64 f64) (result i32 i64 f64)
    local.get 0 local.get 1 local.get 2)
  (func (export "half") (param f32) (result f32)
    local.get 0 f32.const 0.5 f32.mul)
  (func (export "wide") (param i64) (result i64)
    local.get 0 i64.const 1 i64.add))
