// Every binding of demo.proto used correctly, over @tauri-apps/api (with the shim on Tether).
import {
  CommandError,
  count,
  emitFrontendEvent,
  fail,
  greet,
  listenFrontendEvent,
  onceFrontendEvent,
  processData,
  readFile,
  type Code,
  type CountResponse,
  type FrontendEvent,
} from '../../../gen/ts/tauri/demo/v1/demo_tether';

export async function demo(): Promise<string[]> {
  const out: string[] = [];
  const hello: string = await greet({ name: 'World' });
  const processed: string = await processData({ input: 'test' });
  const text: string = await readFile({ path: 'hello.txt' }, { headers: { 'X-Demo': '1' } });
  out.push(hello, processed, text);
  const seen: CountResponse[] = [];
  await count({ to: 3 }, (m) => seen.push(m));
  const last: number | undefined = seen[seen.length - 1]?.n;
  out.push(String(last));
  const unlisten = await listenFrontendEvent((e) => {
    const p: FrontendEvent = e.payload;
    out.push(p.message);
  });
  await onceFrontendEvent((e) => out.push(e.event));
  await emitFrontendEvent({ message: 'hi' });
  unlisten();
  try {
    await fail({ reason: 'typed' });
  } catch (err) {
    if (err instanceof CommandError) {
      const code: Code = err.code;
      const details: unknown = err.details;
      if (code === 'failed_precondition') out.push(err.command, JSON.stringify(details));
    }
  }
  return out;
}
