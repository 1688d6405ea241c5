// JSON.parse with errors that say where: line and column, as an editor counts them.
export interface JsonSyntaxProblem {
  line: number;
  column: number;
  reason: string;
}

export type ParsedJson = { ok: true; value: unknown } | { ok: false; problem: JsonSyntaxProblem };

export function parseJson(text: string): ParsedJson {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    const message = (e as Error).message;
    const at = /at position (\d+)/.exec(message);
    // V8 names no position when the text ends early: the problem is at the end.
    const offset = at ? Number(at[1]) : text.length;
    const before = text.slice(0, offset).split('\n');
    return {
      ok: false,
      problem: {
        line: before.length,
        column: (before.at(-1)?.length ?? 0) + 1,
        reason: message.replace(/ in JSON at position \d+.*$/, '').replace(/ of JSON input$/, ''),
      },
    };
  }
}
