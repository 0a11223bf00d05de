// A small RFC 4180 CSV tokenizer: fields may be quoted ("a,b"), quotes inside quoted
// fields are doubled (""), records end at LF or CRLF (also inside quotes, a newline is
// data). Blank lines are skipped. It knows nothing about columns or types.
import { DataArgumentError, TabularError } from './errors.js';

/** One CSV record and the 1-based line it starts on (for error messages). */
export interface CsvRecord {
  fields: string[];
  line: number;
}

/**
 * Splits CSV text into records of raw string fields.
 * @throws TabularError 'TABULAR_PARSE' for an unterminated quoted field or a quote in the
 *   middle of an unquoted field; DataArgumentError for a bad delimiter.
 */
export function parseCsvRecords(text: string, delimiter = ','): CsvRecord[] {
  if (typeof delimiter !== 'string' || delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new DataArgumentError('delimiter must be one character other than a quote or a line break');
  }
  const records: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // skip a UTF-8 byte-order mark
  let line = 1;
  const n = text.length;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    let field = '';
    let endOfRecord = false;
    let blank = true;
    while (!endOfRecord) {
      if (text[i] === '"') {
        blank = false;
        i++;
        for (;;) {
          if (i >= n) {
            throw new TabularError('TABULAR_PARSE', records.length, undefined,
              `unterminated quoted field starting on line ${startLine}`);
          }
          const ch = text[i]!;
          if (ch === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (ch === '\n') line++;
          field += ch;
          i++;
        }
        const next = text[i];
        if (next !== undefined && next !== delimiter && next !== '\n' && next !== '\r') {
          throw new TabularError('TABULAR_PARSE', records.length, undefined,
            `line ${line}: unexpected ${JSON.stringify(next)} after a closing quote`);
        }
      } else {
        let j = i;
        while (j < n && text[j] !== delimiter && text[j] !== '\n' && text[j] !== '\r') j++;
        field = text.slice(i, j);
        if (field.includes('"')) {
          throw new TabularError('TABULAR_PARSE', records.length, undefined,
            `line ${line}: a quote inside an unquoted field (quote the whole field and double the quote)`);
        }
        if (field.trim() !== '') blank = false;
        i = j;
      }
      fields.push(field);
      field = '';
      const ch = text[i];
      if (ch === delimiter) {
        blank = false;
        i++;
      } else {
        if (ch === '\r') i++;
        if (text[i] === '\n') i++;
        line++;
        endOfRecord = true;
      }
    }
    if (!blank) records.push({ fields, line: startLine });
  }
  return records;
}
