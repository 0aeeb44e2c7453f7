// The command table of the KMS API (POST /v1/kms[/{enclave}]): code, policy/text name, whether it
// writes, whether it is cluster-level, its request and response messages and how replies are framed.
import {
  AddClusterNodeRequest,
  AddHSMRequest,
  AssignPolicyRequest,
  ClusterStatusRequest,
  CreateEnclaveRequest,
  CreateIdentityRequest,
  CreateKeyRequest,
  CreatePolicyRequest,
  DecryptRequest,
  DeleteEnclaveRequest,
  DeleteIdentityRequest,
  DeleteKeyRequest,
  DeletePolicyRequest,
  EditClusterRequest,
  EncryptRequest,
  EnclaveStatusRequest,
  GenerateKeyRequest,
  IdentityRequest,
  ImportKeyRequest,
  KeyStatusRequest,
  ListRequest,
  MACRequest,
  PolicyRequest,
  RemoveClusterNodeRequest,
  RemoveHSMRequest,
} from './pb/keyhold/kms/v1/request.ts';
import {
  ClusterStatusResponse,
  DecryptResponse,
  EncryptResponse,
  EnclaveStatusResponse,
  GenerateKeyResponse,
  IdentityResponse,
  KeyStatusResponse,
  ListEnclavesResponse,
  ListIdentitiesResponse,
  ListKeysResponse,
  ListPoliciesResponse,
  MACResponse,
  PolicyResponse,
  PolicyStatusResponse,
} from './pb/keyhold/kms/v1/response.ts';
import type { MessageOf } from './message-codec.ts';

/**
 * How the reply body of a successful command is framed:
 * - `none`: no payload; the server answers 200 with an empty body (kms-go only closes it).
 * - `per-request`: one response frame per request frame, in order (batchable commands).
 * - `single`: exactly one frame and no trailing bytes (list commands).
 * - `first`: one or more frames, the client uses the first (CLUSTER:STATUS).
 */
export type ReplyFraming = 'none' | 'per-request' | 'single' | 'first';

const w = true;
const r = false;

/**
 * Every command code kms-go knows (kms/cmds/command.go), as data. `supported: false` marks a code
 * that is known (so policies may name it) but that Keyhold does not serve: KEY:LISTVERSIONS has no
 * SDK method and an unknown schema upstream. CLUSTER:RESEAL (7) was removed upstream and is unknown.
 */
// prettier-ignore
export const KMS_COMMANDS = [
  { code: 1, name: 'CLUSTER:ADDNODE', isWrite: w, isCluster: true, batchable: false, supported: true, request: AddClusterNodeRequest, response: null, reply: 'none' },
  { code: 2, name: 'CLUSTER:REMOVENODE', isWrite: w, isCluster: true, batchable: false, supported: true, request: RemoveClusterNodeRequest, response: null, reply: 'none' },
  { code: 3, name: 'CLUSTER:STATUS', isWrite: r, isCluster: true, batchable: false, supported: true, request: ClusterStatusRequest, response: ClusterStatusResponse, reply: 'first' },
  { code: 4, name: 'CLUSTER:EDIT', isWrite: w, isCluster: true, batchable: false, supported: true, request: EditClusterRequest, response: null, reply: 'none' },
  { code: 5, name: 'CLUSTER:ADDHSM', isWrite: w, isCluster: true, batchable: false, supported: true, request: AddHSMRequest, response: null, reply: 'none' },
  { code: 6, name: 'CLUSTER:REMOVEHSM', isWrite: w, isCluster: true, batchable: false, supported: true, request: RemoveHSMRequest, response: null, reply: 'none' },
  { code: 101, name: 'ENCLAVE:CREATE', isWrite: w, isCluster: true, batchable: false, supported: true, request: CreateEnclaveRequest, response: null, reply: 'none' },
  { code: 102, name: 'ENCLAVE:DELETE', isWrite: w, isCluster: true, batchable: false, supported: true, request: DeleteEnclaveRequest, response: null, reply: 'none' },
  { code: 103, name: 'ENCLAVE:STATUS', isWrite: r, isCluster: true, batchable: true, supported: true, request: EnclaveStatusRequest, response: EnclaveStatusResponse, reply: 'per-request' },
  { code: 104, name: 'ENCLAVE:LIST', isWrite: r, isCluster: true, batchable: false, supported: true, request: ListRequest, response: ListEnclavesResponse, reply: 'single' },
  { code: 201, name: 'KEY:CREATE', isWrite: w, isCluster: false, batchable: false, supported: true, request: CreateKeyRequest, response: null, reply: 'none' },
  { code: 202, name: 'KEY:DELETE', isWrite: w, isCluster: false, batchable: false, supported: true, request: DeleteKeyRequest, response: null, reply: 'none' },
  { code: 203, name: 'KEY:IMPORT', isWrite: w, isCluster: false, batchable: false, supported: true, request: ImportKeyRequest, response: null, reply: 'none' },
  { code: 204, name: 'KEY:STATUS', isWrite: r, isCluster: false, batchable: true, supported: true, request: KeyStatusRequest, response: KeyStatusResponse, reply: 'per-request' },
  { code: 205, name: 'KEY:ENCRYPT', isWrite: r, isCluster: false, batchable: true, supported: true, request: EncryptRequest, response: EncryptResponse, reply: 'per-request' },
  { code: 206, name: 'KEY:DECRYPT', isWrite: r, isCluster: false, batchable: true, supported: true, request: DecryptRequest, response: DecryptResponse, reply: 'per-request' },
  { code: 207, name: 'KEY:GENERATE', isWrite: r, isCluster: false, batchable: true, supported: true, request: GenerateKeyRequest, response: GenerateKeyResponse, reply: 'per-request' },
  { code: 208, name: 'KEY:LIST', isWrite: r, isCluster: false, batchable: false, supported: true, request: ListRequest, response: ListKeysResponse, reply: 'single' },
  { code: 209, name: 'KEY:LISTVERSIONS', isWrite: r, isCluster: false, batchable: false, supported: false, request: ListRequest, response: null, reply: 'none' },
  { code: 210, name: 'KEY:MAC', isWrite: r, isCluster: false, batchable: true, supported: true, request: MACRequest, response: MACResponse, reply: 'per-request' },
  { code: 301, name: 'POLICY:CREATE', isWrite: w, isCluster: false, batchable: false, supported: true, request: CreatePolicyRequest, response: null, reply: 'none' },
  { code: 302, name: 'POLICY:DELETE', isWrite: w, isCluster: false, batchable: false, supported: true, request: DeletePolicyRequest, response: null, reply: 'none' },
  { code: 303, name: 'POLICY:ASSIGN', isWrite: w, isCluster: false, batchable: false, supported: true, request: AssignPolicyRequest, response: null, reply: 'none' },
  { code: 304, name: 'POLICY:GET', isWrite: r, isCluster: false, batchable: true, supported: true, request: PolicyRequest, response: PolicyResponse, reply: 'per-request' },
  { code: 305, name: 'POLICY:STATUS', isWrite: r, isCluster: false, batchable: true, supported: true, request: PolicyRequest, response: PolicyStatusResponse, reply: 'per-request' },
  { code: 306, name: 'POLICY:LIST', isWrite: r, isCluster: false, batchable: false, supported: true, request: ListRequest, response: ListPoliciesResponse, reply: 'single' },
  { code: 401, name: 'IDENTITY:CREATE', isWrite: w, isCluster: false, batchable: false, supported: true, request: CreateIdentityRequest, response: null, reply: 'none' },
  { code: 402, name: 'IDENTITY:DELETE', isWrite: w, isCluster: false, batchable: false, supported: true, request: DeleteIdentityRequest, response: null, reply: 'none' },
  // kms-go's Go constant is IdentityGet, but its text (and policy) name is IDENTITY:STATUS.
  { code: 403, name: 'IDENTITY:STATUS', isWrite: r, isCluster: false, batchable: true, supported: true, request: IdentityRequest, response: IdentityResponse, reply: 'per-request' },
  { code: 404, name: 'IDENTITY:LIST', isWrite: r, isCluster: false, batchable: false, supported: true, request: ListRequest, response: ListIdentitiesResponse, reply: 'single' },
] as const satisfies readonly CommandShape[];

interface CommandShape {
  readonly code: number;
  readonly name: string;
  readonly isWrite: boolean;
  readonly isCluster: boolean;
  readonly batchable: boolean;
  readonly supported: boolean;
  readonly request: unknown;
  readonly response: unknown;
  readonly reply: ReplyFraming;
}

/** One entry of KMS_COMMANDS. */
export type KmsCommand = (typeof KMS_COMMANDS)[number];
/** A command's text name, e.g. `'KEY:GENERATE'` (also the action name in policies). */
export type KmsCommandName = KmsCommand['name'];
/** A command's wire code, e.g. `207`. */
export type KmsCommandCode = KmsCommand['code'];
/** The table entry of the command called `N`. */
export type CommandOf<N extends KmsCommandName> = Extract<KmsCommand, { readonly name: N }>;
/** The request message type of command `N` (e.g. GenerateKeyRequest for 'KEY:GENERATE'). */
export type RequestOf<N extends KmsCommandName> = MessageOf<CommandOf<N>['request']>;
/** The response message type of command `N`; `never` for commands whose reply has no payload. */
export type ResponseOf<N extends KmsCommandName> = MessageOf<CommandOf<N>['response']>;

const byCode = new Map<number, KmsCommand>(KMS_COMMANDS.map((c) => [c.code, c]));
const byName = new Map<string, KmsCommand>(KMS_COMMANDS.map((c) => [c.name, c]));

/** The command with wire code `code`, or undefined for a code kms-go does not define. */
export function commandByCode(code: number): KmsCommand | undefined {
  return byCode.get(code);
}

/** The table entry of a command by its exact (upper-case) text name. */
export function kmsCommand<N extends KmsCommandName>(name: N): CommandOf<N> {
  return byName.get(name) as CommandOf<N>;
}

/**
 * Parses a command text name case-insensitively, as kms-go's `cmds.Parse` does (it upper-cases
 * the input): `'key:generate'` → the KEY:GENERATE entry. Undefined for anything else (no trimming).
 */
export function parseCommandName(text: string): KmsCommand | undefined {
  return byName.get(text.toUpperCase());
}

/** A readable label for a wire code: the text name, or kms-go's `!INVALID:<code>` form. */
export function commandLabel(code: number): string {
  return byCode.get(code)?.name ?? `!INVALID:${code}`;
}
