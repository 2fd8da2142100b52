/** The part of the Web Storage API the client uses (`localStorage`, or
 * any object with these members). */
export interface StorageLike {
  readonly length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A storage kept in memory, for platforms without `localStorage`. */
export class MemoryStorage implements StorageLike {
  private readonly items = new Map<string, string>();

  get length(): number {
    return this.items.size;
  }

  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }

  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }

  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }

  removeItem(key: string): void {
    this.items.delete(key);
  }
}

/** One user's local data: JSON values under names, kept in the storage
 * under a prefix of the app and the user, so users of one browser never
 * see each other's. */
export class LocalData {
  constructor(
    private readonly storage: StorageLike,
    private readonly prefix: string,
  ) {}

  /** The value stored under `name`, or `undefined`. */
  get<T = unknown>(name: string): T | undefined {
    const raw = this.storage.getItem(this.prefix + name);
    if (raw === null) return undefined;
    try {
      return JSON.parse(raw) as T;
    } catch {
      return undefined;
    }
  }

  /** Stores `value` (anything `JSON.stringify` takes) under `name`. */
  set(name: string, value: unknown): void {
    this.storage.setItem(this.prefix + name, JSON.stringify(value));
  }

  /** Removes the value under `name`. */
  remove(name: string): void {
    this.storage.removeItem(this.prefix + name);
  }

  /** The names of every stored value. */
  names(): string[] {
    const names: string[] = [];
    for (let i = 0; i < this.storage.length; i++) {
      const key = this.storage.key(i);
      if (key !== null && key.startsWith(this.prefix)) names.push(key.slice(this.prefix.length));
    }
    return names;
  }

  /** Removes every value of this user. */
  clear(): void {
    for (const name of this.names()) this.remove(name);
  }
}
