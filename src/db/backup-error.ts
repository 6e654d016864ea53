/**
 * A backup or restore that cannot be done as asked (db:export, db:import): the user's to fix,
 * printed as its message without a stack, with a sysexits code. Its own file so that every CLI
 * (through cli.ts) can recognise it without loading PGlite.
 */
export class BackupError extends Error {
  constructor(
    message: string,
    /** sysexits: 65 bad export file, 66 missing input, 73 would overwrite, 64 wrong database kind. */
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "BackupError";
  }
}
