// The one WASI function the reporter uses; imported from the module named after this file.

export declare function random_get(buf: usize, size: usize): u16;
