(class name: (_) @name) @chunk.class
(module name: (_) @name) @chunk.class
(method name: (_) @name) @chunk.method
(singleton_method name: (_) @name) @chunk.method
