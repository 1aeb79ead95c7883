;; Asks for 32 pages (2 MiB) of memory up front, for --max-memory.
(module
  (memory (export "memory") 32)
  (func (export "_start")))
