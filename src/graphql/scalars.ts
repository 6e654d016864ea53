import { GraphQLScalarType } from "graphql";
import { GraphQLDateTimeISO } from "graphql-scalars";

/** ISO-8601 date-time, named `DateTime` as the contract says (serialized as a string). */
export const DateTimeScalar = new GraphQLScalarType({
  ...GraphQLDateTimeISO.toConfig(),
  name: "DateTime",
  description: "A date-time string in UTC, ISO-8601 (e.g. 2026-11-22T14:03:23.000Z).",
});
