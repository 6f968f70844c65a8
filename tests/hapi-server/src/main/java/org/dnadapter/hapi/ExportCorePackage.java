package org.dnadapter.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.parser.IParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Bundle;

/**
 * Writes the FHIR R4 core conformance resources that HAPI ships (StructureDefinitions,
 * ValueSets, CodeSystems, SearchParameters) as an NPM-style package folder, so that SUSHI can
 * compile our FSH profiles without reaching packages.fhir.org, which this build cannot.
 * Usage: java ... org.dnadapter.hapi.ExportCorePackage TARGET_DIR
 */
public final class ExportCorePackage {
  private static final List<String> BUNDLES =
      List.of(
          "/org/hl7/fhir/r4/model/profile/profiles-resources.xml",
          "/org/hl7/fhir/r4/model/profile/profiles-types.xml",
          "/org/hl7/fhir/r4/model/profile/profiles-others.xml",
          "/org/hl7/fhir/r4/model/extension/extension-definitions.xml",
          "/org/hl7/fhir/r4/model/valueset/valuesets.xml",
          "/org/hl7/fhir/r4/model/valueset/v3-codesystems.xml",
          "/org/hl7/fhir/r4/model/valueset/v2-tables.xml");

  private ExportCorePackage() {}

  public static void main(String[] args) throws IOException {
    Path target = Path.of(args[0], "package");
    Files.createDirectories(target);
    FhirContext context = FhirContext.forR4();
    IParser parser = context.newJsonParser();
    IParser xml = context.newXmlParser();
    List<IBaseResource> resources = new ArrayList<>();
    for (String bundle : BUNDLES) {
      try (InputStream stream = ExportCorePackage.class.getResourceAsStream(bundle)) {
        if (stream == null) {
          throw new IOException("not on the classpath: " + bundle);
        }
        Bundle parsed = xml.parseResource(Bundle.class, new InputStreamReader(stream, StandardCharsets.UTF_8));
        for (Bundle.BundleEntryComponent entry : parsed.getEntry()) {
          resources.add(entry.getResource());
        }
      }
    }
    int written = 0;
    for (IBaseResource resource : resources) {
      String type = context.getResourceType(resource);
      String id = resource.getIdElement().getIdPart();
      if (id == null) {
        continue;
      }
      Files.writeString(
          target.resolve(type + "-" + id + ".json"),
          parser.encodeResourceToString(resource),
          StandardCharsets.UTF_8);
      written++;
    }
    Files.writeString(
        target.resolve("package.json"),
        "{\"name\": \"hl7.fhir.r4.core\", \"version\": \"4.0.1\", \"type\": \"Core\","
            + " \"fhirVersions\": [\"4.0.1\"], \"description\": \"FHIR R4 core definitions, exported"
            + " from HAPI FHIR's validation resources\"}\n",
        StandardCharsets.UTF_8);
    System.out.printf("wrote %d conformance resources to %s%n", written, target);
  }
}
