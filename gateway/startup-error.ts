/**
 * A reason a gateway or operator cannot start that the person starting it
 * must fix (state directory in use, port busy, no cluster): the CLI prints
 * its message as one line and exits 1, without a stack.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}
