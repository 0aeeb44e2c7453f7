// Privileges of an identity: SysAdmin (cluster-wide root), Admin (one enclave), User (policy).

/** Privilege names as the KMS API spells them in requests. */
export const PRIVILEGES = ['SysAdmin', 'Admin', 'User'] as const;
export type Privilege = (typeof PRIVILEGES)[number];

/** The numeric form used in KMS API responses (`IdentityResponse.Privilege`). */
export const PRIVILEGE_NUMBER: Record<Privilege, number> = { SysAdmin: 1, Admin: 2, User: 3 };

/** Parses a request's privilege string; empty means User (kms-go default). */
export function parsePrivilege(text: string): Privilege | undefined {
  if (text === '') return 'User';
  return PRIVILEGES.find((p) => p.toLowerCase() === text.toLowerCase());
}
