// Every route of the engine API, declared once: method, path, what the request carries, what a success
// answers with, and the error codes it may return besides those every route may (COMMON_ERRORS). The server
// dispatches from this table (a route without a handler fails type-checking), the client's typed methods are
// derived from it (`client.bases.import(...)` is route 'bases.import'), and openapi.ts publishes it. Route
// paths are spelled here and nowhere else.

import { TSchema, Type } from '@sinclair/typebox';
import { ErrorCode } from '../errors';
import * as S from './schemas';

/**
 * How a route's bodies travel: JSON both ways (`json`), a raw request body (`upload`), a raw answer
 * (`download`, with Range support for overlay files) or an answer streamed for as long as the job runs
 * (`stream`, the handoff).
 */
export type RouteKind = 'json' | 'upload' | 'download' | 'stream';

/**
 * Who may call a route besides holders of the API token: anyone with the overlay's signed URL, or the
 * holder of a handoff token for the instance (or handoff) the path names.
 */
export type Access = 'token' | 'signed-overlay' | 'handoff-instance' | 'handoff-session' | 'public';

/** The request header naming the client (`terraform`, `cli`, `dashboard`); the engine records it on what it makes. */
export const CLIENT_HEADER = 'x-cloudlet-client';
/** The header a dashboard session sends with every request that changes something (the session's CSRF token). */
export const CSRF_HEADER = 'x-cloudlet-csrf';
/** The dashboard's session cookie (HttpOnly, SameSite=Strict). */
export const SESSION_COOKIE = 'cloudlet_session';

export interface RouteSpec {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** `:id` stands for the one path parameter a route may have. */
  readonly path: `/v1/${string}`;
  readonly summary: string;
  readonly kind?: RouteKind;
  readonly access?: Access;
  readonly query?: TSchema;
  /** The JSON request body (json and stream routes). */
  readonly body?: TSchema;
  /** The media type of a raw body or answer (upload, download and stream routes). */
  readonly media?: string;
  readonly status: 200 | 201 | 202;
  /** The JSON answer on success (json and upload routes). */
  readonly response?: TSchema;
  /** For a route that starts an operation: what its `result` is once it succeeds. */
  readonly result?: TSchema;
  readonly errors?: readonly ErrorCode[];
}

/** Errors any route may answer with. */
export const COMMON_ERRORS: readonly ErrorCode[] = ['INVALID_ARGUMENT', 'UNAUTHORIZED', 'INTERNAL'];

const ok = <R extends RouteSpec>(r: R): R => r;

export const ROUTES = {
  'engine.info': ok({ method: 'GET', path: '/v1/info', summary: 'Who this cloudlet is, what its engine supports, and its capacity', status: 200, response: S.Info }),
  'engine.doctor': ok({
    method: 'GET',
    path: '/v1/doctor',
    summary: "The host's fitness: KVM or TCG and why, versions, the stored bases' needs, disk, memory, permissions, networking, the listener",
    status: 200,
    response: S.Doctor,
  }),
  'engine.probe': ok({
    method: 'POST',
    path: '/v1/probe',
    summary: 'Round-trip time from this cloudlet host to a client address (TCP connection timing), for placing instances near clients',
    status: 200,
    body: S.ProbeRequest,
    response: S.Probe,
  }),
  'engine.openapi': ok({ method: 'GET', path: '/v1/openapi.json', summary: 'This API as an OpenAPI 3.1 document', status: 200, response: S.OpenApiDocument }),

  'bases.list': ok({ method: 'GET', path: '/v1/bases', summary: 'The base VMs on this cloudlet', status: 200, response: Type.Object({ bases: Type.Array(S.Base) }) }),
  'bases.get': ok({ method: 'GET', path: '/v1/bases/:id', summary: 'One base VM, by id or name', status: 200, response: S.Base, errors: ['NOT_FOUND'] }),
  'bases.delete': ok({ method: 'DELETE', path: '/v1/bases/:id', summary: 'Delete a base VM no instance or overlay uses', status: 200, response: S.Deleted, errors: ['NOT_FOUND', 'IN_USE', 'IO'] }),
  'bases.import': ok({
    method: 'POST',
    path: '/v1/bases',
    summary: 'Import a base archive, boot a disk image into a base, or capture a running instance as one',
    status: 202,
    body: S.ImportBase,
    response: S.Accepted,
    result: S.BaseResult,
    errors: ['NOT_FOUND', 'CONFLICT'],
  }),
  'bases.upload': ok({
    method: 'POST',
    path: '/v1/bases',
    summary: 'Import a base archive sent as the request body (verified as it arrives; answered once it is stored)',
    kind: 'upload',
    media: 'application/x-tar',
    status: 202,
    response: S.Accepted,
    result: S.BaseResult,
    errors: ['ARCHIVE_INVALID', 'HASH_MISMATCH', 'NO_SPACE'],
  }),
  'bases.archive': ok({ method: 'GET', path: '/v1/bases/:id/archive', summary: 'The base as a tar archive', kind: 'download', media: 'application/x-tar', status: 200, errors: ['NOT_FOUND'] }),

  'overlays.list': ok({ method: 'GET', path: '/v1/overlays', summary: 'The overlays stored on this cloudlet', status: 200, response: Type.Object({ overlays: Type.Array(S.OverlayView) }) }),
  'overlays.get': ok({ method: 'GET', path: '/v1/overlays/:id', summary: 'One overlay', status: 200, response: S.OverlayView, errors: ['NOT_FOUND'] }),
  'overlays.delete': ok({
    method: 'DELETE',
    path: '/v1/overlays/:id',
    summary: 'Delete an overlay no instance is being made from',
    status: 200,
    response: S.Deleted,
    errors: ['NOT_FOUND', 'IN_USE', 'IO'],
  }),
  'overlays.import': ok({
    method: 'POST',
    path: '/v1/overlays',
    summary: 'Fetch an overlay from a URL, or capture one from a running instance',
    status: 202,
    body: S.ImportOverlay,
    response: S.Accepted,
    result: S.OverlayResult,
    errors: ['NOT_FOUND', 'CONFLICT'],
  }),
  'overlays.upload': ok({
    method: 'POST',
    path: '/v1/overlays',
    summary: 'Store an overlay sent as the request body (checked whole against its base before it is kept)',
    kind: 'upload',
    media: 'application/octet-stream',
    query: S.UploadQuery,
    status: 201,
    response: S.OverlayView,
    errors: ['OVERLAY_BAD_MAGIC', 'OVERLAY_VERSION', 'OVERLAY_TRUNCATED', 'OVERLAY_CORRUPT', 'OVERLAY_LIMIT', 'OVERLAY_WRONG_BASE', 'BASE_MISSING', 'HASH_MISMATCH', 'NO_SPACE'],
  }),
  'overlays.file': ok({
    method: 'GET',
    path: '/v1/overlays/:id/file',
    summary: 'The overlay file (Range requests, ETag); open to anyone with the signed URL',
    kind: 'download',
    media: 'application/vnd.cloudlet.overlay',
    access: 'signed-overlay',
    query: S.SignedQuery,
    status: 200,
    errors: ['NOT_FOUND'],
  }),

  'instances.list': ok({
    method: 'GET',
    path: '/v1/instances',
    summary: 'The instances on this cloudlet, their states read from libvirt',
    status: 200,
    response: Type.Object({ instances: Type.Array(S.Instance) }),
  }),
  'instances.create': ok({
    method: 'POST',
    path: '/v1/instances',
    summary: 'Synthesize an instance: a base, optionally with an overlay stored here or fetched from a URL',
    status: 202,
    body: S.CreateInstance,
    response: S.Accepted,
    result: S.InstanceResult,
    errors: ['NOT_FOUND', 'CONFLICT', 'OVERLAY_WRONG_BASE', 'HOST_UNSUPPORTED', 'PORT_IN_USE', 'NETWORK_FAILED'],
  }),
  'instances.get': ok({ method: 'GET', path: '/v1/instances/:id', summary: 'One instance, by id or name', status: 200, response: S.InstanceDetail, errors: ['NOT_FOUND'] }),
  'instances.delete': ok({ method: 'DELETE', path: '/v1/instances/:id', summary: 'Stop and remove an instance', status: 200, response: S.Deleted, errors: ['NOT_FOUND', 'CONFLICT', 'VM_FAILED'] }),
  'instances.power': ok({
    method: 'POST',
    path: '/v1/instances/:id/power',
    summary: 'Run, pause or stop an instance',
    status: 200,
    body: S.PowerRequest,
    response: S.Instance,
    errors: ['NOT_FOUND', 'CONFLICT', 'VM_FAILED'],
  }),
  'instances.exec': ok({
    method: 'POST',
    path: '/v1/instances/:id/exec',
    summary: 'Run a shell command in the guest through its agent',
    status: 200,
    body: S.ExecRequest,
    response: S.ExecResult,
    errors: ['NOT_FOUND', 'CONFLICT', 'GUEST_AGENT'],
  }),
  'instances.writeFile': ok({
    method: 'POST',
    path: '/v1/instances/:id/files',
    summary: 'Write a file in the guest through its QEMU guest agent (parent directories made; mode when given)',
    status: 200,
    body: S.WriteFileRequest,
    response: Type.Object({ path: Type.String(), bytes: Type.Integer({ minimum: 0 }) }),
    errors: ['NOT_FOUND', 'CONFLICT', 'GUEST_AGENT', 'COMMAND_FAILED'],
  }),
  'instances.readFile': ok({
    method: 'GET',
    path: '/v1/instances/:id/files',
    summary: 'Read a file from the guest through its QEMU guest agent',
    status: 200,
    query: S.ReadFileQuery,
    response: S.GuestFile,
    errors: ['NOT_FOUND', 'CONFLICT', 'GUEST_AGENT', 'INVALID_ARGUMENT'],
  }),
  'instances.interfaces': ok({
    method: 'GET',
    path: '/v1/instances/:id/interfaces',
    summary: "The guest's network interfaces and addresses, as its QEMU guest agent reports them",
    status: 200,
    response: S.GuestInterfaces,
    errors: ['NOT_FOUND', 'CONFLICT', 'GUEST_AGENT'],
  }),
  'instances.handoffToken': ok({
    method: 'POST',
    path: '/v1/instances/:id/handoff-token',
    summary: 'A short-lived token that lets another cloudlet pull this one instance',
    status: 200,
    body: S.HandoffTokenRequest,
    response: S.HandoffToken,
    errors: ['NOT_FOUND', 'CONFLICT'],
  }),
  'instances.handoffInfo': ok({
    method: 'GET',
    path: '/v1/instances/:id/handoff',
    summary: 'What a handoff destination checks before it pulls the instance',
    access: 'handoff-instance',
    status: 200,
    response: S.HandoffInfo,
    errors: ['NOT_FOUND'],
  }),
  'instances.handoffStream': ok({
    method: 'POST',
    path: '/v1/instances/:id/handoff/stream',
    summary: 'The handoff stream (engine/handoff/PROTOCOL.md); a failure after it starts is an error record in the stream',
    kind: 'stream',
    media: 'application/x-cloudlet-handoff',
    access: 'handoff-instance',
    status: 200,
    body: S.HandoffStreamRequest,
    errors: ['NOT_FOUND', 'CONFLICT', 'HANDOFF_FAILED'],
  }),

  'handoffs.create': ok({
    method: 'POST',
    path: '/v1/handoffs',
    summary: 'Pull an instance from another cloudlet (this engine is the destination)',
    status: 202,
    body: S.StartHandoff,
    response: S.Accepted,
    result: S.HandoffInResult,
    errors: ['CONFLICT'],
  }),
  'handoffs.confirm': ok({
    method: 'POST',
    path: '/v1/handoffs/:id/confirm',
    summary: 'The destination has the instance: the source may remove its copy',
    access: 'handoff-session',
    status: 200,
    response: S.HandoffConfirmed,
    errors: ['NOT_FOUND', 'CONFLICT'],
  }),

  'networks.list': ok({ method: 'GET', path: '/v1/networks', summary: "The cloudlet's networks", status: 200, response: Type.Object({ networks: Type.Array(S.NetworkView) }) }),
  'networks.create': ok({
    method: 'POST',
    path: '/v1/networks',
    summary: 'Create a network (a bridge on the cloudlet host while instances are on it); its range must not overlap another',
    status: 201,
    body: S.CreateNetwork,
    response: S.Network,
    errors: ['CONFLICT', 'NETWORK_FAILED'],
  }),
  'networks.get': ok({ method: 'GET', path: '/v1/networks/:id', summary: 'One network, by id or name', status: 200, response: S.NetworkView, errors: ['NOT_FOUND'] }),
  'networks.delete': ok({
    method: 'DELETE',
    path: '/v1/networks/:id',
    summary: 'Delete a network no instance is on',
    status: 200,
    response: S.Deleted,
    errors: ['NOT_FOUND', 'IN_USE', 'NETWORK_FAILED'],
  }),

  'peers.list': ok({ method: 'GET', path: '/v1/peers', summary: 'The cloudlets this engine can hand instances off to', status: 200, response: Type.Object({ peers: Type.Array(S.Peer) }) }),
  'peers.create': ok({
    method: 'POST',
    path: '/v1/peers',
    summary: 'Add (or replace) a peer cloudlet: its endpoint and API token, kept on this engine',
    status: 201,
    body: S.CreatePeer,
    response: S.Peer,
  }),
  'peers.delete': ok({ method: 'DELETE', path: '/v1/peers/:id', summary: 'Forget a peer', status: 200, response: S.Deleted, errors: ['NOT_FOUND'] }),
  'instances.handoffTo': ok({
    method: 'POST',
    path: '/v1/instances/:id/handoff-to',
    summary: 'Move a running instance to a peer: this engine asks the peer to pull it (with a handoff token for it alone) and follows the move',
    status: 202,
    body: S.HandoffTo,
    response: S.Accepted,
    result: S.HandoffPushResult,
    errors: ['NOT_FOUND', 'CONFLICT', 'HANDOFF_FAILED', 'ENGINE_UNAVAILABLE'],
  }),

  'dashboard.loginCode': ok({
    method: 'POST',
    path: '/v1/dashboard/login-codes',
    summary: 'A one-time code that logs one browser in to the dashboard (valid 5 minutes); the API token only',
    status: 201,
    response: S.LoginCode,
  }),
  'dashboard.login': ok({
    method: 'POST',
    path: '/v1/dashboard/session',
    summary: 'Log a browser in with the API token or a one-time code: sets the session cookie (HttpOnly, SameSite=Strict)',
    access: 'public',
    status: 201,
    body: S.DashboardLogin,
    response: S.DashboardSession,
  }),
  'dashboard.session': ok({ method: 'GET', path: '/v1/dashboard/session', summary: "The browser's session: its CSRF token", status: 200, response: S.DashboardSession }),
  'dashboard.logout': ok({ method: 'DELETE', path: '/v1/dashboard/session', summary: "End the browser's session", access: 'public', status: 200, response: S.Deleted }),

  'operations.list': ok({ method: 'GET', path: '/v1/operations', summary: 'Recent operations', status: 200, response: Type.Object({ operations: Type.Array(S.Operation) }) }),
  'operations.get': ok({
    method: 'GET',
    path: '/v1/operations/:id',
    summary: 'One operation; `wait` holds the answer up to that many seconds while it runs',
    query: S.WaitQuery,
    status: 200,
    response: S.Operation,
    errors: ['NOT_FOUND'],
  }),
  'operations.cancel': ok({
    method: 'DELETE',
    path: '/v1/operations/:id',
    summary: 'Cancel a running operation (an ended one is returned as it is)',
    status: 200,
    response: S.Operation,
    errors: ['NOT_FOUND'],
  }),
} as const;

export type Routes = typeof ROUTES;
export type RouteName = keyof Routes;

/** A route's path with its parameter filled in (the client's one way to spell a path). */
export function routePath(name: RouteName, id?: string): string {
  const p: string = ROUTES[name].path;
  if (!p.includes(':id')) return p;
  if (id === undefined) throw new Error(`route ${name} needs an id`);
  return p.replace(':id', encodeURIComponent(id));
}
