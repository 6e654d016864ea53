import { Directive, Field, Int, ObjectType, registerEnumType } from "type-graphql";
import { CURSOR_DESCRIPTION } from "../../graphql/resume.ts";
import { DateTimeScalar } from "../../graphql/scalars.ts";
import { ConnectionType, Money, Node } from "../../graphql/types.ts";
import type { ProductStatus as ProductStatusValue } from "../../generated/prisma/enums.ts";

export const ProductStatus = { ACTIVE: "ACTIVE", DRAFT: "DRAFT", ARCHIVED: "ARCHIVED" } as const;
registerEnumType(ProductStatus, { name: "ProductStatus" });

/** A product row as the database returns it. */
export interface ProductRow {
  id: string;
  slug: string;
  name: string;
  description: string;
  priceCents: number;
  costCents: number | null;
  currency: string;
  categoryId: string;
  status: ProductStatusValue;
  createdAt: Date;
  updatedAt: Date;
}

export interface CategoryRow {
  id: string;
  slug: string;
  name: string;
  position: number;
}

@Directive("@cacheControl(inheritMaxAge: true)")
// Plain properties need no type-graphql wrapper (field resolvers keep theirs).
@ObjectType({ implements: Node, simpleResolvers: true })
export class Category extends Node {
  @Field(() => String)
  slug!: string;

  @Field(() => String)
  name!: string;

  @Field(() => ProductConnection)
  products!: InstanceType<typeof ProductConnection>;
}

@Directive("@cacheControl(inheritMaxAge: true)")
@ObjectType({ implements: Node, simpleResolvers: true })
export class Product extends Node {
  @Field(() => String)
  slug!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String)
  description!: string;

  @Field(() => Money)
  price!: Money;

  @Directive("@auth(requires: STAFF)")
  @Directive("@cacheControl(scope: PRIVATE)")
  @Field(() => Money, { nullable: true })
  costPrice!: Money | null;

  @Field(() => Category)
  category!: Category;

  @Field(() => Int, { description: "Units that can be sold now." })
  stock!: number;

  @Field(() => Boolean)
  inStock!: boolean;

  @Field(() => ProductStatus)
  status!: ProductStatusValue;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  @Field(() => DateTimeScalar)
  updatedAt!: Date;

  @Field(() => String, { nullable: true, description: CURSOR_DESCRIPTION })
  cursor?: string | null;
}

export const ProductConnection = ConnectionType("Product", () => Product, { inheritCacheControl: true });
