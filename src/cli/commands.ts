/**
 * Owns the declaration of tsbootc's verb tree: bootc's verbs, flags and
 * aliases, plus cfsctl's under `internals cfs`. yargs is configured from this
 * table (parse.ts) and docs/cli.md is generated from it (scripts/gen-cli-doc.mjs),
 * so the two can never disagree.
 */

export type OptType = 'string' | 'boolean' | 'number' | 'array' | 'count';

export interface OptSpec {
  type: OptType;
  describe: string;
  alias?: string | string[];
  choices?: readonly string[];
  default?: string | number | boolean | readonly string[];
  hidden?: boolean;
  conflicts?: readonly string[];
  implies?: readonly string[];
  /** Value placeholder for help and docs. */
  value?: string;
}

export interface PosSpec {
  name: string;
  describe: string;
  required?: boolean;
  variadic?: boolean;
  type?: 'string' | 'number';
  default?: string;
  choices?: readonly string[];
}

export interface CommandSpec {
  name: string;
  describe: string;
  aliases?: readonly string[];
  hidden?: boolean;
  positionals?: readonly PosSpec[];
  options?: Readonly<Record<string, OptSpec>>;
  subcommands?: readonly CommandSpec[];
  /** Accept arguments yargs does not know (passed through in `--`). */
  passthrough?: boolean;
}

const quiet: OptSpec = { type: 'boolean', alias: 'q', describe: "Don't display progress" };
const progressFd: OptSpec = { type: 'number', hidden: true, value: 'FD', describe: 'Write JSON progress lines (progress-v0) to this file descriptor' };
const softReboot: OptSpec = {
  type: 'string',
  choices: ['required', 'auto'],
  describe: "Prepare a soft reboot (userspace restart) into the new deployment; with --apply, do it. 'required' fails when the kernel state differs, 'auto' falls back to a regular reboot",
};
const apply: OptSpec = { type: 'boolean', describe: 'Restart or reboot into the new target image when done' };
const rootfs: OptSpec = { type: 'string', default: '/', value: 'PATH', describe: 'Operate on the root filesystem at this path' };

const targetOpts: Record<string, OptSpec> = {
  'source-imgref': { type: 'string', value: 'REF', describe: 'Install the system from this container image reference (transport:name)' },
  'target-transport': { type: 'string', default: 'registry', describe: 'The transport for --target-imgref' },
  'target-imgref': { type: 'string', value: 'REF', describe: 'Image reference recorded in the origin, used for later upgrades' },
  'enforce-container-sigpolicy': { type: 'boolean', describe: 'Verify the image with the containers signature policy (policy.json)' },
  'run-fetch-check': { type: 'boolean', describe: 'Check that the target image can be fetched before installing' },
  'skip-fetch-check': { type: 'boolean', describe: 'Do not check that the target image can be fetched' },
  'target-no-signature-verification': { type: 'boolean', hidden: true, describe: 'No-op, accepted for compatibility' },
  'experimental-unified-storage': { type: 'boolean', hidden: true, describe: 'Accepted for compatibility; ignored' },
};

const configOpts: Record<string, OptSpec> = {
  'disable-selinux': { type: 'boolean', describe: 'Disable SELinux in the target (adds selinux=0)' },
  karg: { type: 'array', value: 'KARG', describe: 'Add a kernel argument (repeatable)' },
  'karg-delete': { type: 'array', value: 'KARG', describe: 'Remove a kernel argument (ignored with the composefs backend, as in bootc)' },
  'root-ssh-authorized-keys': { type: 'string', value: 'PATH', describe: 'Inject these SSH public keys for root' },
  'generic-image': { type: 'boolean', describe: 'Make the installed image generic (no host-specific firmware state)' },
  'bound-images': { type: 'string', choices: ['stored', 'pull', 'skip'], default: 'stored', describe: 'How logically bound images are handled' },
  stateroot: { type: 'string', describe: 'The stateroot name (the composefs backend always uses "default")' },
  'bootupd-skip-boot-uuid': { type: 'boolean', describe: 'Do not write the boot UUID for bootupd' },
  bootloader: { type: 'string', choices: ['grub', 'grub-cc', 'systemd', 'none'], describe: 'The bootloader to install' },
  'composefs-backend': { type: 'boolean', describe: 'Use the composefs backend (always on in tsbootc)' },
  'allow-missing-verity': { type: 'boolean', describe: 'Allow a filesystem without fs-verity (composefs=? on the cmdline)' },
  'uki-addon': { type: 'array', value: 'NAME', describe: 'Install this UKI addon (name without .addon.efi; repeatable)' },
};

const replaceOpt: OptSpec = { type: 'string', choices: ['wipe', 'alongside'], describe: 'How to treat existing content of the target' };
const ackDestructive: OptSpec = { type: 'boolean', describe: 'Acknowledge that the existing system will be destroyed' };

const cfsGlobal: Record<string, OptSpec> = {
  repo: { type: 'string', value: 'PATH', describe: 'The repository (default: /sysroot/composefs as root, else ~/.var/lib/composefs)' },
  user: { type: 'boolean', describe: 'Use the per-user repository ~/.var/lib/composefs' },
  system: { type: 'boolean', describe: 'Use the system repository /sysroot/composefs' },
  hash: { type: 'string', choices: ['sha256', 'sha512'], describe: 'The fs-verity hash (auto-detected from meta.json)' },
  'erofs-version': { type: 'number', choices: ['0', '1', '2'], describe: 'EROFS format version override for this run' },
  'require-verity': { type: 'boolean', describe: 'Require fs-verity on objects' },
  'no-upgrade': { type: 'boolean', describe: 'Do not upgrade an old repository layout' },
  'no-repo': { type: 'boolean', describe: "Don't open a repository (only compute-id and create-dumpfile; the hash is --hash, else sha512)" },
  insecure: { type: 'boolean', hidden: true, describe: 'Do not require fs-verity (objects ids computed in userspace)' },
};

const mkcomposefs: CommandSpec = {
  name: 'mkcomposefs',
  describe: 'Build a composefs EROFS image (C mkcomposefs compatible)',
  positionals: [
    { name: 'source', describe: 'A dumpfile (with --from-file), "-" for stdin, or a directory', required: true },
    { name: 'image', describe: 'The image to write, or "-" for stdout' },
  ],
  options: {
    'min-version': { type: 'number', value: 'N', describe: 'Minimum image format version' },
    'max-version': { type: 'number', value: 'N', describe: 'Maximum image format version' },
    'digest-store': { type: 'string', value: 'DIR', describe: 'Copy regular files into this object store by digest' },
    'print-digest': { type: 'boolean', describe: 'Print the image fs-verity digest' },
    'print-digest-only': { type: 'boolean', describe: 'Only print the image fs-verity digest' },
    'from-file': { type: 'boolean', describe: 'SOURCE is a dumpfile' },
    'use-epoch': { type: 'boolean', describe: 'Set all mtimes to the epoch' },
    'skip-xattrs': { type: 'boolean', describe: 'Do not store xattrs' },
    'user-xattrs': { type: 'boolean', describe: 'Only store user.* xattrs' },
    'skip-devices': { type: 'boolean', describe: "Don't store device nodes" },
    threads: { type: 'number', value: 'N', describe: 'Number of threads used to hash large files (default: the CPU count)' },
  },
};

const composefsInfo: CommandSpec = {
  name: 'composefs-info',
  describe: 'Inspect composefs images (C composefs-info compatible)',
  options: {
    basedir: { type: 'string', value: 'DIR', describe: 'The object store that missing-objects checks' },
    filter: { type: 'array', value: 'NAME', describe: 'Only show these top-level entries (repeatable)' },
  },
  subcommands: [
    { name: 'ls', describe: 'List the files in images', positionals: [{ name: 'images', describe: 'Image files', required: true, variadic: true }] },
    { name: 'dump', describe: 'Print images as dumpfiles', positionals: [{ name: 'images', describe: 'Image files', required: true, variadic: true }] },
    { name: 'objects', describe: 'List the backing objects of images', positionals: [{ name: 'images', describe: 'Image files', required: true, variadic: true }] },
    {
      name: 'missing-objects',
      describe: 'List backing objects missing from the object store (--basedir)',
      positionals: [{ name: 'images', describe: 'Image files', required: true, variadic: true }],
    },
    {
      name: 'measure-file',
      describe: 'Print the fs-verity digest of files (computed in userspace)',
      positionals: [{ name: 'files', describe: 'Files', required: true, variadic: true }],
    },
  ],
};

const imageArg: PosSpec = { name: 'image', describe: 'Tag name, or @DIGEST (sha256:DIGEST) of the manifest', required: true };
/** cfsctl's OCIConfigOptions: a tag, or @DIGEST of the config. */
const configArg: PosSpec = { name: 'image', describe: 'Tag name, or @DIGEST of the image config', required: true };
const ociFsOpts: Record<string, OptSpec> = {
  bootable: { type: 'boolean', describe: 'Apply the boot transform' },
  xattrs: { type: 'string', choices: ['allowlist-only', 'keep-user-xattrs'], default: 'allowlist-only', describe: 'Which extended attributes to keep' },
};

/** cfsctl's FsReadOptions (create-image, compute-id, create-dumpfile). */
const fsReadOpts: Record<string, OptSpec> = {
  bootable: { type: 'boolean', describe: 'Apply the boot transform' },
  'no-propagate-usr-to-root': { type: 'boolean', describe: 'Do not copy /usr metadata to / (skips the OCI transform)' },
  xattrs: { type: 'string', choices: ['allowlist-only', 'keep-user-xattrs'], default: 'allowlist-only', describe: 'Which extended attributes to keep' },
};

const cfs: CommandSpec = {
  name: 'cfs',
  describe: 'composefs repository tools (cfsctl compatible)',
  options: cfsGlobal,
  subcommands: [
    {
      name: 'init',
      describe: 'Create a repository',
      positionals: [{ name: 'path', describe: 'Repository path (default: --repo)' }],
      options: {
        algorithm: { type: 'string', default: 'fsverity-sha512-12', describe: 'Object id algorithm' },
        'reset-metadata': { type: 'boolean', describe: 'Rewrite meta.json' },
        ensure: { type: 'boolean', describe: 'Succeed if the repository already exists' },
      },
    },
    { name: 'transaction', describe: 'Hold the shared repository lock until interrupted' },
    { name: 'cat', describe: 'Reassemble a stream to stdout', positionals: [{ name: 'name', describe: 'Stream name or refs/...', required: true }] },
    {
      name: 'gc',
      describe: 'Garbage-collect unreferenced objects, streams and images',
      options: {
        'gc-root': {
          type: 'array',
          alias: ['r', 'additional-root'],
          value: 'NAME',
          describe: "Extra GC root to keep. cfsctl's spelling `gc --root NAME` is accepted after `gc`; a `--root DIR` before `gc` is tsbootc's host root",
        },
        'dry-run': { type: 'boolean', alias: 'n', describe: 'Only report what would be removed' },
      },
    },
    { name: 'import-image', describe: 'Store an EROFS image read from stdin', positionals: [{ name: 'ref', describe: 'Ref name', required: true }] },
    {
      name: 'images',
      aliases: ['list-images'],
      describe: 'List image refs',
      options: { json: { type: 'boolean', describe: 'JSON output' }, 'no-trunc': { type: 'boolean', describe: 'Do not truncate ids' } },
    },
    {
      name: 'mount',
      describe: 'Mount an image',
      positionals: [
        { name: 'name', describe: 'Image id or ref', required: true },
        { name: 'mountpoint', describe: 'Where to mount it', required: true },
      ],
      options: {
        upperdir: { type: 'string', describe: 'overlay upperdir' },
        workdir: { type: 'string', describe: 'overlay workdir' },
        'read-write': { type: 'boolean', describe: 'Mount read-write' },
      },
    },
    {
      name: 'create-image',
      describe: 'Scan a directory, store its objects and commit the image; prints the image id',
      positionals: [
        { name: 'path', describe: 'Directory', required: true },
        { name: 'name', describe: 'Ref name for the image' },
      ],
      options: fsReadOpts,
    },
    {
      name: 'compute-id',
      describe: 'Compute the image id of a directory without storing anything',
      positionals: [{ name: 'path', describe: 'Directory', required: true }],
      options: fsReadOpts,
    },
    {
      name: 'create-dumpfile',
      describe: 'Print the dumpfile of a scanned directory',
      positionals: [{ name: 'path', describe: 'Directory', required: true }],
      options: fsReadOpts,
    },
    { name: 'image-objects', describe: 'List the object ids an image references', positionals: [{ name: 'name', describe: 'Image id or ref', required: true }] },
    {
      name: 'dump-files',
      describe: 'Print dump lines for selected files of an image',
      positionals: [
        { name: 'image', describe: 'Image id or ref', required: true },
        { name: 'files', describe: 'Paths inside the image', required: true, variadic: true },
      ],
      options: { 'backing-path-only': { type: 'boolean', describe: 'Print only the backing object path' } },
    },
    {
      name: 'fsck',
      describe: 'Check repository integrity',
      options: { json: { type: 'boolean', describe: 'JSON output' }, 'metadata-only': { type: 'boolean', describe: 'Skip object content' } },
    },
    {
      name: 'oci',
      describe: 'OCI images in the repository',
      subcommands: [
        {
          name: 'pull',
          describe: 'Import an OCI image',
          positionals: [
            { name: 'image', describe: 'Image reference: oci:DIR[:TAG], oci-archive:FILE[:TAG] or dir:DIR', required: true },
            { name: 'name', describe: 'Tag name (default: the image reference)' },
          ],
          options: {
            bootable: { type: 'boolean', describe: 'Also generate the boot EROFS' },
            'expected-digest': {
              type: 'string',
              value: 'HEX',
              describe: 'Find the xattr mode and EROFS version whose boot image has this id (requires --bootable; cfsctl semantics, not a manifest digest)',
            },
          },
        },
        { name: 'images', describe: 'List tagged images', options: { json: { type: 'boolean', describe: 'JSON output' } } },
        {
          name: 'inspect',
          describe: 'Show manifest, config and composefs ids of an image',
          positionals: [imageArg],
          options: { manifest: { type: 'boolean', describe: 'Only the manifest' }, config: { type: 'boolean', describe: 'Only the config' } },
        },
        {
          name: 'tag',
          describe: 'Tag a manifest',
          positionals: [
            { name: 'digest', describe: 'Manifest digest', required: true },
            { name: 'name', describe: 'Tag name', required: true },
          ],
        },
        { name: 'untag', describe: 'Remove a tag', positionals: [{ name: 'name', describe: 'Tag name', required: true }] },
        {
          name: 'compute-id',
          describe: 'Image id of an OCI image rootfs',
          positionals: [configArg],
          options: ociFsOpts,
        },
        {
          name: 'dump',
          describe: 'Dumpfile of an OCI image rootfs',
          positionals: [configArg],
          options: ociFsOpts,
        },
        {
          name: 'mount',
          describe: "Mount an OCI image's EROFS",
          positionals: [imageArg, { name: 'mountpoint', describe: 'Where to mount it', required: true }],
          options: { bootable: { type: 'boolean', describe: 'Mount the boot variant' } },
        },
        {
          name: 'layer',
          describe: 'Print a layer (raw tar by default)',
          positionals: [{ name: 'diffid', describe: 'Layer diff_id', required: true }],
          options: { dumpfile: { type: 'boolean', conflicts: ['json'], describe: 'As a dumpfile (one line per tar entry)' }, json: { type: 'boolean', conflicts: ['dumpfile'], describe: 'As JSON' } },
        },
        {
          name: 'prepare-boot',
          describe:
            'Commit the boot EROFS of an image, write its kernel and initramfs (from /usr/lib/modules/<kver>) and a BLS entry with the composefs karg to --bootdir, and create <repo>/../state/deploy/<id> (Type 1 entries and UKIs inside /boot are not implemented)',
          positionals: [configArg],
          options: {
            bootdir: { type: 'string', default: '/boot', describe: 'Boot partition mount point' },
            'entry-id': { type: 'string', describe: 'Boot entry id (default: the kernel version)' },
            cmdline: { type: 'array', value: 'ARG', describe: 'Additional kernel argument (repeatable)' },
          },
        },
      ],
    },
    mkcomposefs,
    composefsInfo,
  ],
};

const installSub: CommandSpec[] = [
  {
    name: 'to-disk',
    describe: 'Install to the target block device',
    positionals: [{ name: 'device', describe: 'Target block device (or a file with --via-loopback)', required: true }],
    options: {
      wipe: { type: 'boolean', describe: 'Automatically wipe all existing data on the device' },
      'block-setup': { type: 'string', choices: ['direct', 'tpm2-luks'], default: 'direct', describe: 'Target root block device setup' },
      filesystem: { type: 'string', choices: ['xfs', 'ext4', 'btrfs'], describe: 'Target root filesystem type' },
      'root-size': { type: 'string', value: 'SIZE', describe: 'Size of the root partition (N[M|G|T])' },
      'via-loopback': { type: 'boolean', describe: 'DEVICE is a regular file; install through a loopback device (or none)' },
      ...targetOpts,
      ...configOpts,
    },
  },
  {
    name: 'to-filesystem',
    describe: 'Install to an already-mounted target filesystem',
    positionals: [{ name: 'root-path', describe: 'Path to the mounted target root', required: true }],
    options: {
      'root-mount-spec': { type: 'string', describe: 'Source of the root mount (e.g. UUID=...)' },
      'boot-mount-spec': { type: 'string', describe: 'Source of the /boot mount (empty: omit)' },
      replace: replaceOpt,
      'acknowledge-destructive': ackDestructive,
      'skip-finalize': { type: 'boolean', describe: 'Do not finalize (trim, freeze) the target filesystem' },
      ...targetOpts,
      ...configOpts,
    },
  },
  {
    name: 'to-existing-root',
    describe: 'Install over the running system (the target root mounted at ROOT_PATH)',
    positionals: [{ name: 'root-path', describe: 'Path to the target root', default: '/target' }],
    options: {
      replace: { ...replaceOpt, default: 'alongside' },
      'acknowledge-destructive': ackDestructive,
      cleanup: { type: 'boolean', describe: 'Remove the old system on next boot' },
      ...targetOpts,
      ...configOpts,
    },
  },
  { name: 'finalize', describe: 'Finalize an installation (after to-filesystem --skip-finalize)', positionals: [{ name: 'root-path', describe: 'Target root', required: true }] },
  { name: 'ensure-completion', describe: 'Complete an installation started from a container (bootc install to-existing-root)' },
  {
    name: 'print-configuration',
    describe: 'Print the merged install configuration as JSON',
    options: { all: { type: 'boolean', describe: 'Include all fields, not only those set' } },
  },
];

const containerSub: CommandSpec[] = [
  {
    name: 'inspect',
    describe: 'Describe a container image root (kargs, kernel) as JSON',
    options: { rootfs, json: { type: 'boolean', describe: 'JSON output' }, format: { type: 'string', choices: ['json', 'yaml', 'humanreadable'], describe: 'Output format' } },
  },
  {
    name: 'lint',
    describe: 'Run the checks bootc runs on an image before it is installed',
    options: {
      rootfs,
      'fatal-warnings': { type: 'boolean', describe: 'Make warnings fatal' },
      list: { type: 'boolean', describe: 'List the lints' },
      skip: { type: 'array', value: 'NAME', describe: 'Skip this lint (repeatable)' },
      'no-truncate': { type: 'boolean', describe: 'Do not truncate output' },
    },
  },
  {
    name: 'compute-composefs-digest',
    describe: 'Print the boot EROFS image id (fs-verity digest) of a directory tree',
    hidden: true,
    positionals: [{ name: 'path', describe: 'Root of the tree', default: '/target' }],
    options: { 'write-dumpfile-to': { type: 'string', value: 'FILE', describe: 'Also write the dumpfile here' } },
  },
  {
    name: 'compute-composefs-digest-from-storage',
    describe: 'Print the boot EROFS image id of an image in containers-storage',
    hidden: true,
    positionals: [{ name: 'image', describe: 'Image name' }],
    options: { 'write-dumpfile-to': { type: 'string', value: 'FILE', describe: 'Also write the dumpfile here' } },
  },
  {
    name: 'ukify',
    describe: 'Build a UKI with composefs=<digest> in its cmdline',
    positionals: [{ name: 'args', describe: 'Arguments passed to ukify (after --)', variadic: true }],
    passthrough: true,
    options: {
      rootfs,
      karg: { type: 'array', hidden: true, describe: 'Extra kernel argument' },
      'allow-missing-verity': { type: 'boolean', describe: 'Use composefs=? (no fs-verity)' },
      'write-dumpfile-to': { type: 'string', value: 'FILE', describe: 'Also write the dumpfile here' },
      'kernel-dir': { type: 'string', value: 'DIR', describe: 'Where the kernel and initramfs are' },
    },
  },
  {
    name: 'split-kernel-and-rootfs',
    describe: 'Move /usr/lib/modules/$kver/{vmlinuz,initramfs.img} out of the rootfs',
    options: { rootfs, output: { type: 'string', value: 'DIR', describe: 'Output directory' } },
  },
  {
    name: 'export',
    describe: 'Export the image as a tar',
    hidden: true,
    positionals: [{ name: 'target', describe: 'Image' }],
    options: {
      format: { type: 'string', choices: ['tar'], default: 'tar', describe: 'Output format' },
      output: { type: 'string', alias: 'o', describe: 'Output file' },
      'kernel-in-boot': { type: 'boolean', describe: 'Place the kernel in /boot' },
      'disable-selinux': { type: 'boolean', describe: 'Drop SELinux labels' },
    },
  },
];

const internalsSub: CommandSpec[] = [
  cfs,
  {
    name: 'composefs-gc',
    describe: 'Garbage-collect deployments, boot binaries and (with --prune-repo) the repository',
    options: {
      'dry-run': { type: 'boolean', describe: 'Only report what would be removed' },
      'assert-no-op': { type: 'boolean', describe: 'Fail if anything would be removed' },
      'prune-repo': { type: 'boolean', describe: 'Also garbage-collect the composefs repository' },
    },
  },
  {
    name: 'crash-points',
    hidden: true,
    describe: 'List the crash points of TSBOOTC_CRASH_AT (fault injection)',
  },
  {
    name: 'print-json-schema',
    describe: 'Print a JSON schema',
    options: { of: { type: 'string', choices: ['host', 'progress'], describe: 'Which schema', value: 'host|progress' } },
  },
  {
    name: 'fsverity',
    describe: 'fs-verity helpers',
    subcommands: [
      { name: 'measure', describe: 'Print the fs-verity digest of a file', positionals: [{ name: 'path', describe: 'File', required: true }] },
      { name: 'enable', describe: 'Enable fs-verity on a file', positionals: [{ name: 'path', describe: 'File', required: true }] },
    ],
  },
  {
    name: 'dir-diff',
    describe: 'Three-way /etc diff (and merge)',
    positionals: [
      { name: 'pristine', describe: 'Pristine /etc', required: true },
      { name: 'current', describe: 'Current /etc', required: true },
      { name: 'new', describe: 'New /etc', required: true },
    ],
    options: { merge: { type: 'boolean', describe: 'Apply the merge into NEW' } },
  },
  {
    name: 'prep-soft-reboot',
    describe: 'Prepare a soft reboot into a deployment',
    positionals: [{ name: 'deployment', describe: 'Deployment id' }],
    options: {
      reboot: { type: 'boolean', conflicts: ['reset'], describe: 'Soft-reboot now (never on a --root that is not the running system)' },
      reset: { type: 'boolean', conflicts: ['reboot'], describe: 'Unmount /run/nextroot (undo the preparation)' },
    },
  },
  {
    name: 'uki',
    describe: 'UKI helpers',
    subcommands: [
      {
        name: 'extract',
        describe: 'Extract the kernel and initramfs of a UKI',
        positionals: [
          { name: 'uki', describe: 'UKI file', required: true },
          { name: 'outdir', describe: 'Output directory', required: true },
        ],
      },
    ],
  },
  { name: 'systemd-generator', describe: 'systemd generator entry point', positionals: [{ name: 'dirs', describe: 'normal early late', variadic: true }] },
  { name: 'fixup-etc-fstab', describe: 'Fix /etc/fstab for the deployment' },
  { name: 'cleanup', describe: 'Clean up after an install' },
  { name: 'reboot', describe: 'Reboot the system (honours --root: never reboots a fake host)' },
];

/** The whole verb tree. Every entry is reachable; unimplemented ones say so and exit 1. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'upgrade',
    aliases: ['update'],
    describe: 'Download and queue an updated container image to apply',
    options: {
      quiet,
      check: { type: 'boolean', conflicts: ['apply', 'download-only', 'from-downloaded'], describe: 'Check for an update and print the difference; stage nothing' },
      apply: { ...apply, conflicts: ['check', 'download-only'] },
      'soft-reboot': { ...softReboot, conflicts: ['check', 'download-only'] },
      'download-only': { type: 'boolean', conflicts: ['check', 'apply'], describe: 'Download and stage, but do not finalize at shutdown' },
      'from-downloaded': { type: 'boolean', conflicts: ['check', 'download-only'], describe: 'Unlock a download-only staged deployment' },
      tag: { type: 'string', value: 'TAG', describe: 'Upgrade to this tag of the current image' },
      'progress-fd': progressFd,
    },
  },
  {
    name: 'switch',
    describe: 'Target a new container image reference to boot',
    positionals: [{ name: 'target', describe: 'Target image reference', required: true }],
    options: {
      quiet,
      apply,
      'soft-reboot': softReboot,
      transport: { type: 'string', default: 'registry', choices: ['registry', 'oci', 'oci-archive', 'docker-daemon', 'containers-storage'], describe: 'The transport of TARGET' },
      'enforce-container-sigpolicy': { type: 'boolean', describe: 'Verify the image with the containers signature policy (remembered for upgrades)' },
      retain: { type: 'boolean', describe: 'Retain the current image reference (ignored with composefs, as in bootc)' },
      'no-signature-verification': { type: 'boolean', hidden: true, describe: 'No-op, accepted for compatibility' },
      'mutate-in-place': { type: 'boolean', hidden: true, describe: 'Accepted for compatibility' },
      'experimental-unified-storage': { type: 'boolean', hidden: true, describe: 'Accepted for compatibility; ignored' },
      'progress-fd': progressFd,
    },
  },
  {
    name: 'rollback',
    describe: 'Change the bootloader entry ordering; the deployment under rollback becomes the default',
    options: { apply, 'soft-reboot': softReboot },
  },
  {
    name: 'edit',
    describe: 'Apply a host specification (YAML or JSON)',
    options: { filename: { type: 'string', alias: 'f', value: 'FILE', describe: 'Read the spec from this file (default: edit interactively)' }, quiet },
  },
  {
    name: 'status',
    describe: 'Display the status of the host system',
    options: {
      json: { type: 'boolean', hidden: true, describe: 'Same as --format json' },
      format: { type: 'string', choices: ['humanreadable', 'yaml', 'json'], describe: 'Output format (default: human on a TTY, else YAML)' },
      'format-version': { type: 'number', value: 'N', describe: 'Output format version (0 and 1 both mean v1)' },
      booted: { type: 'boolean', describe: 'Only display the booted deployment' },
    },
  },
  {
    name: 'usr-overlay',
    aliases: ['usroverlay'],
    describe: 'Add a transient writable overlayfs on /usr',
    options: { 'read-only': { type: 'boolean', describe: 'Mount the overlay read-only' } },
  },
  { name: 'install', describe: 'Install the running container (or --source-imgref) to a target', subcommands: installSub },
  { name: 'container', describe: 'Operations run inside a container image build', subcommands: containerSub },
  { name: 'composefs-finalize-staged', describe: 'Finalize the staged deployment (run at shutdown)' },
  {
    name: 'delete-deployment',
    describe: 'Delete a non-booted deployment',
    hidden: true,
    positionals: [{ name: 'id', describe: 'Deployment id (verity digest)', required: true }],
  },
  { name: 'config-diff', describe: 'Print the local changes in /etc against the booted image', hidden: true },
  {
    name: 'image',
    describe: 'Operations on container images',
    hidden: true,
    subcommands: [
      {
        name: 'list',
        describe: 'List images',
        options: {
          type: { type: 'string', choices: ['all', 'logical', 'host'], default: 'all', describe: 'Which images' },
          format: { type: 'string', choices: ['table', 'json'], default: 'table', describe: 'Output format' },
        },
      },
      {
        name: 'copy-to-storage',
        describe: 'Copy the booted image into containers-storage',
        options: { source: { type: 'string', describe: 'Source image' }, target: { type: 'string', describe: 'Target image' } },
      },
    ],
  },
  { name: 'internals', describe: 'Internal commands', hidden: true, subcommands: internalsSub },
  {
    name: 'completion',
    describe: 'Print a shell completion script',
    positionals: [{ name: 'shell', describe: 'Shell', required: true, choices: ['bash', 'zsh', 'fish'] }],
  },
];

/** Global options, valid on every verb. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptSpec>> = {
  root: { type: 'string', value: 'DIR', describe: "Resolve every host path under DIR (env TSBOOTC_ROOT; default /). Write it before the verb for `internals cfs gc`, where a `--root` after `gc` is cfsctl's GC root" },
  verbose: { type: 'boolean', alias: 'v', describe: 'Verbose output; debug logging with error cause chains and subprocess argv' },
};

/** Depth-first list of every command path (e.g. ["internals","cfs","oci","pull"]). */
export function allCommandPaths(cmds: readonly CommandSpec[] = COMMANDS, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  for (const c of cmds) {
    const p = [...prefix, c.name];
    out.push(p);
    if (c.subcommands) out.push(...allCommandPaths(c.subcommands, p));
  }
  return out;
}

export function findCommand(path: readonly string[], cmds: readonly CommandSpec[] = COMMANDS): CommandSpec | undefined {
  let list = cmds;
  let found: CommandSpec | undefined;
  for (const name of path) {
    found = list.find((c) => c.name === name);
    if (!found) return undefined;
    list = found.subcommands ?? [];
  }
  return found;
}
