// Must not typecheck: "nam" is not a field of GreetRequest.
import { greet } from '../../../gen/ts/tether/demo/v1/demo_tether';

export const greeting: Promise<string> = greet({ nam: 'x' });
