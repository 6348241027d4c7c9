//! Cancels a request when the editor cancels it (the user typed on) or when it takes too long.

export interface Token {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => unknown): { dispose(): unknown };
}
export interface TokenSource<T extends Token> {
  readonly token: T;
  cancel(): void;
  dispose(): void;
}

/**
 * Runs `run` with a token that is cancelled when `outer` is, or after `timeoutMs`.
 * Resolves to `onTimeout` when the deadline passes first, so the editor never waits longer than that.
 */
export async function withTimeout<T, K extends Token>(
  outer: Token,
  timeoutMs: number,
  makeSource: () => TokenSource<K>,
  run: (token: K) => PromiseLike<T> | T,
  onTimeout: T,
): Promise<{ value: T; timedOut: boolean }> {
  const source = makeSource();
  const link = outer.onCancellationRequested(() => source.cancel());
  if (outer.isCancellationRequested) source.cancel();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<{ value: T; timedOut: boolean }>((resolve) => {
    timer = setTimeout(() => {
      source.cancel();
      resolve({ value: onTimeout, timedOut: true });
    }, timeoutMs);
  });
  try {
    const work = Promise.resolve(run(source.token)).then((value) => ({ value, timedOut: false }));
    return await Promise.race([work, deadline]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    link.dispose();
    source.dispose();
  }
}
