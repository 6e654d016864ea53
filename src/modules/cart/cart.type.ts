import { Field, ID, Int, ObjectType } from "type-graphql";
import { CURSOR_DESCRIPTION } from "../../graphql/resume.ts";
import { DateTimeScalar } from "../../graphql/scalars.ts";
import { Money } from "../../graphql/types.ts";
import { Product } from "../catalog/index.ts";

export interface CartLine {
  productId: string;
  quantity: number;
}

/** A cart as one change (or one read) left it. */
export interface CartView {
  id: string;
  userId: string;
  version: number;
  updatedAt: Date;
  items: CartLine[];
  /** Set when a cartUpdated event delivered it. */
  cursor?: string;
}

@ObjectType({ simpleResolvers: true })
export class CartItem {
  @Field(() => Product)
  product!: Product;

  @Field(() => Int)
  quantity!: number;

  @Field(() => Money)
  lineTotal!: Money;
}

@ObjectType({ description: "The signed-in user's cart: one per user, shared by all their devices and sessions.", simpleResolvers: true })
export class Cart {
  @Field(() => ID)
  id!: string;

  @Field(() => [CartItem])
  items!: CartItem[];

  @Field(() => Int, { description: "Units in the cart, over all lines." })
  itemCount!: number;

  @Field(() => Money, { description: "At current prices; checkout snapshots them into the order." })
  subtotal!: Money;

  @Field(() => Int, { description: "Increases by one on every change; clients drop events older than what they hold." })
  version!: number;

  @Field(() => DateTimeScalar)
  updatedAt!: Date;

  @Field(() => String, { nullable: true, description: CURSOR_DESCRIPTION })
  cursor?: string | null;
}
