/** A listener of event `K` of the map `E`. */
export type Listener<E, K extends keyof E> = (event: E[K]) => void;

/** Typed events: listeners run in the order they were added; one that
 * throws does not stop the others or the client. */
export class Emitter<E> {
  private readonly listeners = new Map<keyof E, Set<Listener<E, keyof E>>>();

  /** Adds a listener; the returned function removes it. */
  on<K extends keyof E>(name: K, listener: Listener<E, K>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as Listener<E, keyof E>);
    return () => this.off(name, listener);
  }

  /** Removes a listener. */
  off<K extends keyof E>(name: K, listener: Listener<E, K>): void {
    this.listeners.get(name)?.delete(listener as Listener<E, keyof E>);
  }

  /** Whether event `name` has a listener. */
  protected has(name: keyof E): boolean {
    return (this.listeners.get(name)?.size ?? 0) > 0;
  }

  protected emit<K extends keyof E>(name: K, event: E[K]): void {
    for (const listener of [...(this.listeners.get(name) ?? [])]) {
      try {
        listener(event);
      } catch (error) {
        console.error(`a listener of "${String(name)}" failed`, error);
      }
    }
  }
}
