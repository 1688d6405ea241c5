// JSON.parse with errors that say where: line and column, as an editor counts them.
// V8's messages name no position for some mistakes, so jsonc-parser (VS Code's JSON scanner)
// locates the first one after JSON.parse has failed.
import type { ParseError } from 'jsonc-parser';

export interface JsonSyntaxProblem {
  line: number;
  column: number;
  reason: string;
}

export type ParsedJson = { ok: true; value: unknown } | { ok: false; problem: JsonSyntaxProblem };

export async function parseJson(text: string): Promise<ParsedJson> {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    // Loaded only now: a valid config never pays for it.
    const { parse, printParseErrorCode } = await import('jsonc-parser');
    const errors: ParseError[] = [];
    parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = errors[0];
    const offset = first?.offset ?? text.length;
    const before = text.slice(0, offset).split('\n');
    return {
      ok: false,
      problem: {
        line: before.length,
        column: (before.at(-1)?.length ?? 0) + 1,
        reason: first ? words(printParseErrorCode(first.error)) : (e as Error).message,
      },
    };
  }
}

/** "PropertyNameExpected" as "property name expected". */
const words = (code: string) => code.replace(/(?<=[a-z])(?=[A-Z])/g, ' ').toLowerCase();
