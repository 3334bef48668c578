/**
 * Writing ONNX models from code: attributes, initializers, nodes, value infos and the serialized
 * ModelProto. Shared by the TF.js converters (models/convert-tfjs.ts, models/convert-tfjs-layers.ts)
 * and the style graphs (models/style-graph.ts), so all of them write the same IR version and opset.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
export const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

/** ONNX IR version and default-domain opset every model built here is written with. */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 18;

/** A dimension: a size, or a symbolic name for a dynamic one (e.g. `batch`, `height*2`). */
export type Dim = number | string;

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

/** ONNX attribute constructors. */
export const attr = {
  int: (name: string, i: number): AttributeProto => ({ name, type: AT.INT, i }),
  ints: (name: string, ints: number[]): AttributeProto => ({ name, type: AT.INTS, ints }),
  float: (name: string, f: number): AttributeProto => ({ name, type: AT.FLOAT, f }),
  str: (name: string, s: string): AttributeProto => ({ name, type: AT.STRING, s: utf8(s) }),
};

export function floatBytes(data: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(data.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  return bytes;
}
export function int64Bytes(data: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(data.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setBigInt64(8 * i, BigInt(data[i]), true);
  return bytes;
}

/** A float32 graph input or output; string dims are symbolic (dynamic). */
export function floatValueInfo(name: string, dims: Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DT.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** The nodes and initializers of a graph being written. */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly initNames = new Set<string>();

  /** Adds an initializer the first time `name` is used; later calls just return the name. */
  init(name: string, dtype: 'float32' | 'int64', dims: number[], data: ArrayLike<number>): string {
    if (this.initNames.has(name)) return name;
    this.initNames.add(name);
    this.initializers.push({
      name,
      dims,
      dataType: dtype === 'float32' ? DT.FLOAT : DT.INT64,
      rawData: dtype === 'float32' ? floatBytes(data) : int64Bytes(data),
    });
    return name;
  }

  /** A float32 scalar initializer, named by its value. */
  scalar(value: number): string {
    return this.init(`const/scalar/${value}`, 'float32', [], [value]);
  }

  /** Adds a node with one output and returns that output's name. */
  emit(opType: string, inputs: string[], output: string, name: string, attributes: AttributeProto[] = []): string {
    this.nodes.push({ opType, input: inputs, output: [output], name, attribute: attributes });
    return output;
  }

  /** Emits an activation that TF and Keras define alike, by its Keras name: relu, relu6, sigmoid, tanh, elu or softplus. */
  emitActivation(kind: string, x: string, output: string, name: string): string {
    switch (kind) {
      case 'relu':
        return this.emit('Relu', [x], output, name);
      case 'relu6':
        return this.emit('Clip', [x, this.scalar(0), this.scalar(6)], output, name);
      case 'sigmoid':
        return this.emit('Sigmoid', [x], output, name);
      case 'tanh':
        return this.emit('Tanh', [x], output, name);
      case 'elu':
        return this.emit('Elu', [x], output, name, [attr.float('alpha', 1)]);
      case 'softplus':
        return this.emit('Softplus', [x], output, name);
      default:
        throw new Error(`onnx-builder: activation '${kind}' has no emitter`);
    }
  }

  /** The serialized ModelProto of this graph (IR ONNX_IR_VERSION, opset ONNX_OPSET). */
  encode(model: {
    producerName: string;
    producerVersion: string;
    docString: string;
    graphName: string;
    inputs: ValueInfoProto[];
    outputs: ValueInfoProto[];
    metadata: Record<string, string>;
  }): Uint8Array {
    const proto = onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      producerName: model.producerName,
      producerVersion: model.producerVersion,
      docString: model.docString,
      graph: {
        name: model.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: model.inputs,
        output: model.outputs,
      },
      metadataProps: Object.entries(model.metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(proto).finish();
  }
}
