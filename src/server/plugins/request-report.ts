import type { ApolloServerPlugin } from "@apollo/server";
import type { Context } from "../../graphql/context.ts";
import { isUnexpected, unwrap } from "../../graphql/errors.ts";
import type { Metrics } from "../metrics.ts";
import { noteErrors } from "../request-log.ts";

/**
 * Fills the operation's report for its access log line (name, type, error codes), logs every
 * unexpected error with the request id through `onUnexpected`, and puts that id in
 * `extensions.requestId` of every masked INTERNAL_SERVER_ERROR, so a 500 seen by a client leads
 * to its log line. Apollo's formatError cannot see the context, so the id is added here.
 */
export function requestReportPlugin(onUnexpected: (error: unknown, requestId: string) => void, metrics: Metrics): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, operationName, contextValue }) {
          contextValue.report.type = operation?.operation;
          contextValue.report.name = operationName ?? undefined;
        },
        async didEncounterErrors({ errors, contextValue }) {
          for (const error of errors) if (isUnexpected(error)) onUnexpected(unwrap(error), contextValue.requestId);
        },
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind !== "single") return;
          const result = response.body.singleResult;
          if (!result.errors?.length) return;
          noteErrors(contextValue.report, result.errors, metrics, "http");
          if (!contextValue.report.errorCodes?.includes("INTERNAL_SERVER_ERROR")) return;
          const requestId = contextValue.requestId;
          result.errors = result.errors!.map((error) =>
            error.extensions?.code === "INTERNAL_SERVER_ERROR" ? { ...error, extensions: { ...error.extensions, requestId } } : error,
          );
        },
      };
    },
  };
}
