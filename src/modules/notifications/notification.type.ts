import { Field, ObjectType, registerEnumType } from "type-graphql";
import type { NotificationCategory as CategoryValue } from "../../generated/prisma/enums.ts";
import { CURSOR_DESCRIPTION } from "../../graphql/resume.ts";
import { DateTimeScalar } from "../../graphql/scalars.ts";
import { ConnectionType, Node } from "../../graphql/types.ts";

export const NotificationCategory = {
  ORDER_UPDATES: "ORDER_UPDATES",
  BACK_IN_STOCK: "BACK_IN_STOCK",
  PRICE_DROPS: "PRICE_DROPS",
  PROMOTIONS: "PROMOTIONS",
} as const satisfies Record<CategoryValue, CategoryValue>;
registerEnumType(NotificationCategory, { name: "NotificationCategory" });

export type { CategoryValue as NotificationCategoryValue };

export interface NotificationRow {
  id: string;
  userId: string;
  category: CategoryValue;
  title: string;
  body: string;
  readAt: Date | null;
  createdAt: Date;
}

@ObjectType({ implements: Node, simpleResolvers: true })
export class Notification extends Node {
  @Field(() => NotificationCategory)
  category!: CategoryValue;

  @Field(() => String)
  title!: string;

  @Field(() => String)
  body!: string;

  @Field(() => DateTimeScalar, { nullable: true })
  readAt!: Date | null;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  @Field(() => String, { nullable: true, description: CURSOR_DESCRIPTION })
  cursor?: string | null;
}

@ObjectType({ simpleResolvers: true })
export class NotificationPreference {
  @Field(() => NotificationCategory)
  category!: CategoryValue;

  @Field(() => Boolean)
  enabled!: boolean;
}

export const NotificationConnection = ConnectionType("Notification", () => Notification);
