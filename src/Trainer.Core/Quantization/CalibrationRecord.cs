using System.Text.Json;
using System.Text.Json.Nodes;
using Trainer.Core.IO;

namespace Trainer.Core.Quantization;

/// <summary>
/// The quantize stage's score before finetuning, written beside the export before it: a resumed stage that keeps the
/// export reports the same figure as the run that made it instead of leaving it out (the calibration is not redone).
/// </summary>
public static class CalibrationRecord
{
    /// <summary>File name in the quantize stage's checkpoint folder.</summary>
    public const string FileName = "calibration.json";

    /// <summary>Writes the task's score of the calibrated model (temporary file renamed into place); NaN is written as null.</summary>
    public static void Write(string stageCheckpointDir, double calibratedScore) =>
        AtomicFile.WriteAllText(Path.Combine(stageCheckpointDir, FileName),
            new JsonObject { ["calibrated_score"] = double.IsFinite(calibratedScore) ? calibratedScore : null }
                .ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

    /// <summary>The recorded score; NaN when the stage has no record (an export of an older build) or recorded none.</summary>
    /// <exception cref="InvalidDataException">The record is damaged, a directory, or holds no finite score; the message names it.</exception>
    public static double Read(string stageCheckpointDir)
    {
        var path = Path.Combine(stageCheckpointDir, FileName);
        if (!FileBytes.Exists(path, "Calibration record", m => new InvalidDataException(m))) return double.NaN;
        var text = FileBytes.ReadText(path, "Calibration record", m => new InvalidDataException(m));
        try
        {
            if (JsonNode.Parse(text) is JsonObject o && o.TryGetPropertyValue("calibrated_score", out var node))
            {
                if (node is null) return double.NaN;
                if (node is JsonValue v && v.TryGetValue<double>(out var score) && double.IsFinite(score)) return score;
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            // Reported below.
        }
        throw new InvalidDataException($"Calibration record '{path}' is damaged: it should be {{\"calibrated_score\": <number or null>}}; " +
                                       "delete it (and quantized.trnq beside it) to quantize again.");
    }
}
