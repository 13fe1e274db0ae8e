import { type GatewayError, isGatewayError } from '@gateway/contracts';

/** The GatewayError a promise rejects with; fails the test if it resolves or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<GatewayError> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  if (!isGatewayError(err)) throw err;
  return err;
}
