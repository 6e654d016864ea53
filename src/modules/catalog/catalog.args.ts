import { PageArgs } from "../../graphql/types.ts";
import { ArgsType, Field, ID, InputType, Int, registerEnumType } from "type-graphql";
import { ProductStatus } from "./product.type.ts";
import type { ProductStatus as ProductStatusValue } from "../../generated/prisma/enums.ts";

export const ProductOrderField = { NAME: "NAME", PRICE: "PRICE", CREATED_AT: "CREATED_AT" } as const;
export type ProductOrderFieldValue = keyof typeof ProductOrderField;
registerEnumType(ProductOrderField, { name: "ProductOrderField" });

export const OrderDirection = { ASC: "ASC", DESC: "DESC" } as const;
export type OrderDirectionValue = keyof typeof OrderDirection;
registerEnumType(OrderDirection, { name: "OrderDirection" });

@InputType()
export class ProductFilter {
  @Field(() => ID, { nullable: true })
  categoryId?: string | null;

  @Field(() => String, { nullable: true })
  search?: string | null;

  @Field(() => Int, { nullable: true })
  minPriceCents?: number | null;

  @Field(() => Int, { nullable: true })
  maxPriceCents?: number | null;

  @Field(() => Boolean, { nullable: true })
  inStock?: boolean | null;
}

@InputType()
export class ProductOrder {
  @Field(() => ProductOrderField)
  field!: ProductOrderFieldValue;

  @Field(() => OrderDirection)
  direction!: OrderDirectionValue;
}

@ArgsType()
export class ProductsArgs extends PageArgs {
  @Field(() => ProductFilter, { nullable: true })
  filter?: ProductFilter | null;

  @Field(() => ProductOrder, { nullable: true })
  orderBy?: ProductOrder | null;
}

@InputType()
export class ProductInput {
  @Field(() => String)
  slug!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String)
  description!: string;

  @Field(() => Int)
  priceCents!: number;

  @Field(() => Int, { nullable: true })
  costCents?: number | null;

  @Field(() => String, { nullable: true })
  currency?: string | null;

  @Field(() => ID)
  categoryId!: string;

  @Field(() => ProductStatus, { nullable: true })
  status?: ProductStatusValue | null;
}

@InputType()
export class ProductPatch {
  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => Int, { nullable: true })
  priceCents?: number | null;

  @Field(() => Int, { nullable: true })
  costCents?: number | null;

  @Field(() => ID, { nullable: true })
  categoryId?: string | null;

  @Field(() => ProductStatus, { nullable: true })
  status?: ProductStatusValue | null;
}

@InputType()
export class CategoryInput {
  @Field(() => String, { description: "Lower-case letters, digits and single dashes; at most 100 characters; unique." })
  slug!: string;

  @Field(() => String, { description: "1 to 100 characters (trimmed)." })
  name!: string;
}

@InputType({ description: "At least one field; the ones left out (or null) stay as they are." })
export class CategoryPatch {
  @Field(() => String, { nullable: true })
  slug?: string | null;

  @Field(() => String, { nullable: true })
  name?: string | null;
}
