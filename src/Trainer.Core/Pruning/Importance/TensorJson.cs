using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.Importance;

/// <summary>A float32 tensor as JSON for a callback's checkpoint state: its shape and its bytes in base64 (exact values).</summary>
public static class TensorJson
{
    /// <summary>{"shape": [...], "data": base64 of the float32 values}.</summary>
    public static JsonObject Write(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        using var scope = NewDisposeScope();
        var values = tensor.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return new JsonObject
        {
            ["shape"] = new JsonArray(tensor.shape.Select(d => (JsonNode)JsonValue.Create(d)).ToArray()),
            ["data"] = Convert.ToBase64String(bytes),
        };
    }

    /// <summary>The tensor <see cref="Write"/> wrote (float32, on the CPU).</summary>
    /// <exception cref="InvalidOperationException">The byte count does not fit the shape.</exception>
    public static Tensor Read(JsonObject node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var shape = node["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
        var bytes = Convert.FromBase64String(node["data"]!.GetValue<string>());
        var values = new float[bytes.Length / sizeof(float)];
        if (bytes.Length % sizeof(float) != 0 || values.LongLength != shape.Aggregate(1L, (a, b) => a * b))
            throw new InvalidOperationException($"A saved tensor holds {bytes.Length} bytes, which do not fit its shape [{string.Join(", ", shape)}] of float32.");
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return tensor(values, shape);
    }
}
