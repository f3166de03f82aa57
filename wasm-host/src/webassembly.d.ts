// The project compiles with lib ES2022 and @types/node 20, neither of which declares the WebAssembly
// global that Node provides. This is the small subset the host uses (shapes as in TypeScript's lib.dom).
declare namespace WebAssembly {
  interface ModuleImportDescriptor {
    kind: 'function' | 'global' | 'memory' | 'table' | 'tag';
    module: string;
    name: string;
  }
  interface ModuleExportDescriptor {
    kind: 'function' | 'global' | 'memory' | 'table' | 'tag';
    name: string;
  }
  interface Module {
    readonly __wasmModule?: never;
  }
  const Module: {
    prototype: Module;
    new (bytes: BufferSource): Module;
    exports(moduleObject: Module): ModuleExportDescriptor[];
    imports(moduleObject: Module): ModuleImportDescriptor[];
  };
  interface Instance {
    readonly exports: Exports;
  }
  const Instance: {
    prototype: Instance;
    new (module: Module, importObject?: Imports): Instance;
  };
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
  }
  interface Memory {
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  const Memory: {
    prototype: Memory;
    new (descriptor: MemoryDescriptor): Memory;
  };
  interface RuntimeError extends Error {
    readonly __wasmRuntimeError?: never;
  }
  const RuntimeError: {
    prototype: RuntimeError;
    new (message?: string): RuntimeError;
  };
  type BufferSource = ArrayBufferView | ArrayBuffer;
  type ExportValue = unknown;
  type Exports = Record<string, ExportValue>;
  type ImportValue = unknown;
  type ModuleImports = Record<string, ImportValue>;
  type Imports = Record<string, ModuleImports>;
  function compile(bytes: BufferSource): Promise<Module>;
  function instantiate(moduleObject: Module, importObject?: Imports): Promise<Instance>;
  function validate(bytes: BufferSource): boolean;
}
