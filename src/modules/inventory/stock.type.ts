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
}
