/** What a whole-file parser returns: the value, and how many lines (or stanzas) it could not read. */
export interface Parsed<T> {
  value: T;
  /** Lines (or stanzas) that could not be understood: counted, never thrown on. */
  bad: number;
}
