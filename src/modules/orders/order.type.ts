import { Field, Int, ObjectType, registerEnumType } from "type-graphql";
import type { OrderStatus as OrderStatusValue } from "../../generated/prisma/enums.ts";
import { CURSOR_DESCRIPTION } from "../../graphql/resume.ts";
import { DateTimeScalar } from "../../graphql/scalars.ts";
import { ConnectionType, Money, Node } from "../../graphql/types.ts";
import { Product } from "../catalog/index.ts";
import { User } from "../identity/index.ts";

export const OrderStatus = {
  PLACED: "PLACED",
  PAID: "PAID",
  SHIPPED: "SHIPPED",
  DELIVERED: "DELIVERED",
  CANCELLED: "CANCELLED",
} as const satisfies Record<OrderStatusValue, OrderStatusValue>;
registerEnumType(OrderStatus, { name: "OrderStatus" });

export type { OrderStatusValue };

export interface OrderRow {
  id: string;
  number: string;
  userId: string;
  status: OrderStatusValue;
  /** 1 when placed, +1 on every status change. */
  version: number;
  totalCents: number;
  currency: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface OrderItemRow {
  id: string;
  orderId: string;
  productId: string;
  productName: string;
  unitPriceCents: number;
  currency: string;
  quantity: number;
}

@ObjectType({ description: "A line of an order: price and quantity as they were at checkout.", simpleResolvers: true })
export class OrderItem {
  @Field(() => Product)
  product!: Product;

  @Field(() => Int)
  quantity!: number;

  @Field(() => Money)
  unitPrice!: Money;

  @Field(() => Money)
  lineTotal!: Money;
}

@ObjectType({ implements: Node, simpleResolvers: true })
export class Order extends Node {
  @Field(() => String, { description: "Human-readable and unique, e.g. CW-000042." })
  number!: string;

  @Field(() => OrderStatus)
  status!: OrderStatusValue;

  @Field(() => [OrderItem])
  items!: OrderItem[];

  @Field(() => Money)
  total!: Money;

  @Field(() => User)
  customer!: User;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  @Field(() => DateTimeScalar)
  updatedAt!: Date;

  @Field(() => Int, { description: "1 when placed, +1 on every status change; clients drop events older than what they hold." })
  version!: number;

  @Field(() => String, { nullable: true, description: CURSOR_DESCRIPTION })
  cursor?: string | null;
}

export const OrderConnection = ConnectionType("Order", () => Order);
