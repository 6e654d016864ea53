import { Field, Int, ObjectType } from "type-graphql";
import { Product } from "../catalog/index.ts";

@ObjectType()
export class StockUpdate {
  @Field(() => Product)
  product!: Product;

  @Field(() => Int)
  stock!: number;

  @Field(() => Boolean)
  inStock!: boolean;

  @Field(() => Int, { description: "Counts the product's stock changes: an update with a lower version than one already received is older." })
  version!: number;

  @Field(() => String, { description: "This event's position: pass it as `after` to resume from here." })
  cursor!: string;
}
