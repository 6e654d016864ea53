/**
 * Every event Cartwheel publishes, with its payload. Topics are scoped by id (`STOCK_CHANGED:<productId>`)
 * so a subscriber only receives what it asked for; payloads are ids and primitives (plain JSON on
 * Redis), and subscribers re-read everything else through their own loaders and authorization.
 */
export interface TopicPayloads {
  STOCK_CHANGED: { productId: string; stock: number };
  PRODUCT_UPDATED: { productId: string };
}

export type TopicName = keyof TopicPayloads;

export interface Event<K extends TopicName = TopicName> {
  topic: K;
  /** The id the topic is scoped by. */
  id: string;
  payload: TopicPayloads[K];
}

export function event<K extends TopicName>(topic: K, id: string, payload: TopicPayloads[K]): Event<K> {
  return { topic, id, payload };
}
