// Safe lookups for resolvers: only own data properties (no getters run, nothing from a
// prototype), names that are plain identifiers not starting with "_", the container's
// __all__ allow-list when it has one, and functions that are not classes.

import { exposureOf } from "./_exposed.ts";
import type { Endpoint } from "./resolver.ts";

/** A publishable name: an identifier that does not start with `_`. */
const PUBLIC_NAME = /^[A-Za-z$][A-Za-z0-9_$]*$/;
/** Own properties that are never published even when present. */
const BLOCKED = new Set(["constructor", "prototype", "caller", "arguments", "then"]);

/** An own data property's value, or `undefined` (getters are not run). */
function ownValue(container: object, name: string): unknown {
  try {
    const descriptor = Object.getOwnPropertyDescriptor(container, name);
    return descriptor !== undefined && "value" in descriptor ? descriptor.value : undefined;
  } catch {
    // A module namespace's binding that is not initialised yet.
    return undefined;
  }
}

/** Whether `name` may be published from `container` (name rules and its `__all__`). */
export function isPublished(container: object, name: string): boolean {
  if (!PUBLIC_NAME.test(name) || BLOCKED.has(name)) return false;
  const all = ownValue(container, "__all__");
  return !Array.isArray(all) || all.includes(name);
}

/** The value `container` publishes under `name`, or `undefined`. */
export function publishedMember(container: object, name: string): unknown {
  return isPublished(container, name) ? ownValue(container, name) : undefined;
}

/** `value` as a published function, or `null` (not a function, a class, or not exposed). */
export function asEndpoint(value: unknown, exposedOnly: boolean): Endpoint | null {
  if (typeof value !== "function") return null;
  if (/^class\b/.test(Function.prototype.toString.call(value))) return null;
  if (exposedOnly && exposureOf(value) === undefined) return null;
  return value as Endpoint;
}

/** Whether `value` is an object a path may descend into. */
export function isTraversable(value: unknown): value is object {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Checks the name of an index function given as an option. */
export function checkIndexName(option: string, name: string): string {
  if (!PUBLIC_NAME.test(name)) {
    throw new TypeError(`Cannot use ${option} "${name}": not a public identifier`);
  }
  return name;
}
