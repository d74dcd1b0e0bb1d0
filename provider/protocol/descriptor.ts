// Compiles our .proto files into the compact descriptor protobuf.ts runs on. Used at build time (the
// descriptor ships next to the bundle as proto/descriptor.json) and by tests; never at provider start-up,
// which is the point: parsing .proto text costs about 100 ms.

import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { Descriptor, FieldDescriptor, ScalarType } from './protobuf';

export const PROTO_FILES = ['tfplugin6.proto', 'plugin.proto', 'health.proto'];

export function defaultProtoDir(): string {
  // provider/protocol (ts-jest) or dist/provider/protocol (compiled): the .proto files stay in the source tree.
  const here = path.join(__dirname, 'proto');
  return __dirname.includes(`${path.sep}dist${path.sep}`) ? path.join(__dirname, '..', '..', '..', 'provider', 'protocol', 'proto') : here;
}

export function compileDescriptor(protoDir = defaultProtoDir()): Descriptor {
  const root = new protobuf.Root();
  // Our imports are siblings; google/protobuf/* come bundled with protobufjs.
  root.resolvePath = (_origin, target) => (target.startsWith('google/') ? target : path.join(protoDir, path.basename(target)));
  root.loadSync(
    PROTO_FILES.map((f) => path.join(protoDir, f)),
    { keepCase: true },
  );
  root.resolveAll();
  const d: Descriptor = { messages: {}, enums: {}, services: {} };
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const o of ns.nestedArray) {
      const full = o.fullName.replace(/^\./, '');
      if (o instanceof protobuf.Type) {
        d.messages[full] = {
          fields: o.fieldsArray.map((f): FieldDescriptor => {
            const type = f.resolvedType ? f.resolvedType.fullName.replace(/^\./, '') : f.type;
            const out: FieldDescriptor = { name: f.name, id: f.id, type };
            if (f.repeated) out.repeated = true;
            // proto3 `optional` and oneof members both have presence: a set default value must still be sent.
            if (f.options?.proto3_optional || f.partOf) out.optional = true;
            if (f instanceof protobuf.MapField) out.keyType = f.keyType as ScalarType;
            return out;
          }),
        };
      } else if (o instanceof protobuf.Enum) {
        d.enums[full] = { ...o.values };
      } else if (o instanceof protobuf.Service) {
        d.services[full] = {};
        for (const m of o.methodsArray) {
          m.resolve();
          d.services[full][m.name] = {
            request: m.resolvedRequestType!.fullName.replace(/^\./, ''),
            response: m.resolvedResponseType!.fullName.replace(/^\./, ''),
            serverStream: !!m.responseStream,
            clientStream: !!m.requestStream,
          };
        }
      }
      if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) visit(o);
    }
  };
  visit(root);
  return d;
}
