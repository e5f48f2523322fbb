/** A malformed IDX file: bad magic, bad type code or dimension count, truncated or trailing data, corrupt gzip. */
export class IdxFormatError extends Error {
  /** The file (name or path) the problem was found in. */
  readonly file: string;
  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}`, options);
    this.name = 'IdxFormatError';
    this.file = file;
  }
}

/** A dataset could not be loaded: inconsistent files, bad labels, a failed or unverified download. */
export class DatasetError extends Error {
  /** The files (names or paths) involved, when the problem is tied to files. */
  readonly files: string[];
  constructor(message: string, files: string[] = [], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatasetError';
    this.files = files;
  }
}

/** A dataset is not present anywhere it was looked for (and could not, or was not allowed to, be downloaded). */
export class DatasetNotFoundError extends DatasetError {
  /** The places that were searched, in order. */
  readonly searched: string[];
  constructor(message: string, searched: string[] = [], files: string[] = [], options?: { cause?: unknown }) {
    super(message, files, options);
    this.name = 'DatasetNotFoundError';
    this.searched = searched;
  }
}
