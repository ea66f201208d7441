using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trainer.Core.Graph;

/// <summary>
/// Saves and loads filter masks as JSON: {"format": "trainer.filter-masks/1", "masks": {"conv1": "1101..."}}
/// with one character per output channel ('1' keeps, '0' prunes). Saving writes a temporary file and renames it.
/// </summary>
public static class MaskFile
{
    /// <summary>The value of the "format" field.</summary>
    public const string Format = "trainer.filter-masks/1";

    /// <summary>Writes <paramref name="masks"/> to <paramref name="path"/> (temporary file, then rename).</summary>
    public static void Save(string path, IReadOnlyDictionary<string, bool[]> masks)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(masks);
        var body = new JsonObject();
        foreach (var (layer, mask) in masks) body[layer] = new string(mask.Select(k => k ? '1' : '0').ToArray());
        var root = new JsonObject { ["format"] = Format, ["masks"] = body };

        IO.AtomicFile.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Reads masks written by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">The file is missing, unreadable, damaged or not a mask file of this format.</exception>
    public static Dictionary<string, bool[]> Load(string path)
    {
        var text = IO.FileBytes.ReadText(path, "Mask file", message => new InvalidDataException(message));
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(text);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON: {ex.Message}", ex);
        }
        if (root is not JsonObject obj || obj["format"] is not JsonValue format || format.GetValueKind() != JsonValueKind.String
            || format.GetValue<string>() != Format || obj["masks"] is not JsonObject body)
            throw new InvalidDataException($"'{path}' is not a mask file: expected \"format\": \"{Format}\" and a \"masks\" object");
        var masks = new Dictionary<string, bool[]>();
        foreach (var (layer, node) in body)
        {
            var bits = node?.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : null;
            if (bits is null || bits.Length == 0 || bits.Any(ch => ch is not ('0' or '1')))
                throw new InvalidDataException($"'{path}': mask of '{layer}' must be a string of '0' and '1'");
            masks[layer] = bits.Select(ch => ch == '1').ToArray();
        }
        return masks;
    }

    /// <summary>
    /// Reads the masks of <paramref name="path"/> and checks them against <paramref name="model"/>: every masked layer must be
    /// one of its convolutions (Conv1d/2d/3d, ConvTranspose) or Linear layers, with one character per output channel. Masks of another model are refused here,
    /// naming the file, before any analysis uses them.
    /// </summary>
    /// <exception cref="InvalidDataException">As <see cref="Load(string)"/>, or the masks belong to another model.</exception>
    public static Dictionary<string, bool[]> Load(string path, TorchSharp.torch.nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var masks = Load(path);
        var widths = model.named_modules().Select(m => (m.name, Width: m.module switch
        {
            TorchSharp.Modules.ConvolutionTranspose t => t.weight.shape[1] * t.groups,
            TorchSharp.Modules.Convolution c => c.weight.shape[0],
            TorchSharp.Modules.Linear l => l.weight.shape[0],
            _ => -1L,
        })).Where(m => m.Width > 0).ToDictionary(m => m.name, m => m.Width);
        foreach (var (layer, mask) in masks)
        {
            if (!widths.TryGetValue(layer, out var width))
                throw new InvalidDataException($"'{path}' masks layer '{layer}', which is not a convolution or Linear of the model " +
                                               $"(closest: {string.Join(", ", Models.NameSuggestions.Closest(layer, widths.Keys))}); the masks belong to another model.");
            if (mask.Length != width)
                throw new InvalidDataException($"'{path}' masks {mask.Length} channels of '{layer}', which has {width}; the masks belong to another model.");
        }
        return masks;
    }
}
