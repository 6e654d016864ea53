export { NotificationsService, DEFAULT_PREFERENCES, type Audience, type Audiences, type Message, type Notified, type SqlMessage } from "./notifications.service.ts";
export { createNotificationLoaders, type NotificationLoaders } from "./notifications.loaders.ts";
export { Notification, type NotificationRow, type NotificationCategoryValue } from "./notification.type.ts";
import { NotificationResolver } from "./notification.resolver.ts";

export const notificationResolvers = [NotificationResolver] as const;
export { canSeeNotification, notificationNodeFetchers } from "./notification.resolver.ts";
