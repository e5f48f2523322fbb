/** Loaders of the mnist package's per-class digit files, `DIGIT_FILES[d]()` for class d. */
export declare const DIGIT_FILES: readonly (() => Promise<{ default: { data?: unknown } }>)[];
